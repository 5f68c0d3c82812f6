/**
 * A failing disk for black-box tests, as issue 11's fault campaign made
 * one: an LD_PRELOAD library, compiled here with gcc from the C below into
 * the test's temp dir, that makes fsync(2) and fdatasync(2) of a directory
 * return EIO when the directory's path contains FSYNC_FAIL_MATCH and, if
 * FSYNC_FAIL_FLAG is set, only while that file exists (so a test turns the
 * fault on and off under a running process). Files are failed too only
 * when asked (FSYNC_FAIL_FILES=1, `env(match, flag, { files: true })`: the
 * send ledger's appends); otherwise only the directory fsyncs.
 *
 * It works on the real binaries (flush, agent, sendmail) with no seam in
 * the product code. Node's fsync goes through libuv's thread pool to the
 * C library's fsync, which the preload replaces; libuv can use io_uring
 * instead (UV_USE_IO_URING=1 on some versions), which would bypass it, so
 * the environment here turns that off. `buildFsyncFault` checks that the
 * fault really happens in a child node, synchronously and through the
 * thread pool, before any test relies on it, and throws if not (or if gcc
 * is missing): a test built on it fails rather than passing vacuously.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before } from 'node:test';
import { makeTempHome } from './home.js';

const SOURCE = String.raw`
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int should_fail(int fd) {
  const char *match = getenv("FSYNC_FAIL_MATCH");
  const char *flag = getenv("FSYNC_FAIL_FLAG");
  const char *files = getenv("FSYNC_FAIL_FILES");
  struct stat st;
  char link[64], target[PATH_MAX];
  ssize_t n;
  if (match == NULL || match[0] == 0) return 0;
  if (fstat(fd, &st) != 0) return 0;
  if (!S_ISDIR(st.st_mode) && (files == NULL || strcmp(files, "1") != 0)) return 0;
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink(link, target, sizeof target - 1);
  if (n < 0) return 0;
  target[n] = 0;
  if (strstr(target, match) == NULL) return 0;
  if (flag != NULL && flag[0] != 0 && access(flag, F_OK) != 0) return 0;
  return 1;
}

int fsync(int fd) {
  static int (*real)(int);
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  if (should_fail(fd)) { errno = EIO; return -1; }
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  if (should_fail(fd)) { errno = EIO; return -1; }
  return real(fd);
}
`;

export interface FsyncFault {
  /** The shared library's path. */
  library: string;
  /**
   * The environment for a child process: directory fsyncs whose path
   * contains `match` fail with EIO (while `flag` exists, when given), and
   * file fsyncs too with `files`.
   */
  env(match: string, flag?: string, options?: { files?: boolean }): Record<string, string>;
}

/** Compiles the library into `dir` and proves it works; throws otherwise. */
export async function buildFsyncFault(dir: string): Promise<FsyncFault> {
  const source = path.join(dir, 'fsync-fault.c');
  const library = path.join(dir, 'fsync-fault.so');
  await fs.writeFile(source, SOURCE);
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', library, source, '-ldl'], { stdio: 'pipe' });
  const env = (match: string, flag?: string, options: { files?: boolean } = {}): Record<string, string> => ({
    LD_PRELOAD: library,
    UV_USE_IO_URING: '0',
    FSYNC_FAIL_MATCH: match,
    ...(flag === undefined ? {} : { FSYNC_FAIL_FLAG: flag }),
    ...(options.files === true ? { FSYNC_FAIL_FILES: '1' } : {}),
  });
  const probeDir = path.join(dir, 'fsync-fault-probe');
  await fs.mkdir(probeDir, { recursive: true });
  const probeFile = path.join(probeDir, 'file');
  await fs.writeFile(probeFile, '');
  const script = `
    const fs = require('node:fs');
    const fd = fs.openSync(process.argv[1], 'r');
    let sync = 'ok';
    try { fs.fsyncSync(fd); } catch (e) { sync = e.code; }
    fs.fsync(fd, (e) => { console.log(sync + ' ' + (e ? e.code : 'ok')); });
  `;
  const run = (extra: Record<string, string>, target = probeDir) =>
    spawnSync(process.execPath, ['-e', script, target], { env: { ...process.env, ...extra }, encoding: 'utf8' }).stdout.trim();
  const failing = run(env('fsync-fault-probe'));
  const passing = run(env('no-such-directory'));
  const fileSpared = run(env('fsync-fault-probe'), probeFile);
  const fileFailing = run(env('fsync-fault-probe', undefined, { files: true }), probeFile);
  if (failing !== 'EIO EIO' || passing !== 'ok ok' || fileSpared !== 'ok ok' || fileFailing !== 'EIO EIO') {
    throw new Error(
      `the LD_PRELOAD fsync fault does not work here (failing: "${failing}", passing: "${passing}", file spared: "${fileSpared}", file failing: "${fileFailing}")`,
    );
  }
  return { library, env };
}

/**
 * For a test file: the library built once before its tests (node:test's
 * `before`) in a temp directory of its own, removed after them. `env` is
 * FsyncFault's; `dir` is that directory, for flag files.
 */
export function fsyncFaultForTests(): { env: FsyncFault['env']; readonly dir: string } {
  let fault: FsyncFault | null = null;
  let temp: { home: string; cleanup(): Promise<void> } | null = null;
  before(async () => {
    temp = await makeTempHome('bulkmailer-fsync-fault-');
    fault = await buildFsyncFault(temp.home);
  });
  after(async () => {
    await temp?.cleanup();
  });
  const built = () => {
    if (fault === null || temp === null) throw new Error('the fsync fault is built in before(): use it inside a test');
    return { fault, dir: temp.home };
  };
  return {
    env: (match, flag, options) => built().fault.env(match, flag, options),
    get dir() {
      return built().dir;
    },
  };
}
