/**
 * A failing disk for black-box tests, as issue 11's fault campaign made
 * one: an LD_PRELOAD library, compiled here with gcc from the C below into
 * the test's temp dir, that makes fsync(2) and fdatasync(2) of a directory
 * return EIO when the directory's path contains FSYNC_FAIL_MATCH and, if
 * FSYNC_FAIL_FLAG is set, only while that file exists (so a test turns the
 * fault on and off under a running process). Files are failed too only
 * when asked (FSYNC_FAIL_FILES=1, `env(match, flag, { files: true })`: the
 * send ledger's appends); otherwise only the directory fsyncs. With
 * FSYNC_FAIL_WRITES=1 (`{ writes: true }`) the writes to a matching regular
 * file fail too (write, pwrite, writev, pwritev and their 64-bit names:
 * EIO): a journal whose line cannot be written.
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
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* Whether the fd's path matches (and the flag file, if any, exists); fsyncs of files only when asked. */
static int should_fail_path(int fd, int is_write) {
  const char *match = getenv("FSYNC_FAIL_MATCH");
  const char *flag = getenv("FSYNC_FAIL_FLAG");
  const char *files = getenv("FSYNC_FAIL_FILES");
  struct stat st;
  char link[64], target[PATH_MAX];
  ssize_t n;
  if (match == NULL || match[0] == 0) return 0;
  if (fstat(fd, &st) != 0) return 0;
  if (!is_write && !S_ISDIR(st.st_mode) && (files == NULL || strcmp(files, "1") != 0)) return 0;
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink(link, target, sizeof target - 1);
  if (n < 0) return 0;
  target[n] = 0;
  if (strstr(target, match) == NULL) return 0;
  if (flag != NULL && flag[0] != 0 && access(flag, F_OK) != 0) return 0;
  return 1;
}

/* Writes: only regular files, only when asked; the check costs a getenv otherwise. */
static int should_fail_write(int fd) {
  const char *writes = getenv("FSYNC_FAIL_WRITES");
  struct stat st;
  if (writes == NULL || strcmp(writes, "1") != 0) return 0;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  return should_fail_path(fd, 1);
}

#define FAIL_WRITE(name, params, args) \
  ssize_t name params { \
    static ssize_t (*real) params; \
    if (real == NULL) real = (ssize_t (*) params)dlsym(RTLD_NEXT, #name); \
    if (should_fail_write(fd)) { errno = EIO; return -1; } \
    return real args; \
  }

FAIL_WRITE(write, (int fd, const void *buf, size_t count), (fd, buf, count))
FAIL_WRITE(pwrite, (int fd, const void *buf, size_t count, off_t offset), (fd, buf, count, offset))
FAIL_WRITE(pwrite64, (int fd, const void *buf, size_t count, off64_t offset), (fd, buf, count, offset))
FAIL_WRITE(writev, (int fd, const struct iovec *iov, int iovcnt), (fd, iov, iovcnt))
FAIL_WRITE(pwritev, (int fd, const struct iovec *iov, int iovcnt, off_t offset), (fd, iov, iovcnt, offset))
FAIL_WRITE(pwritev64, (int fd, const struct iovec *iov, int iovcnt, off64_t offset), (fd, iov, iovcnt, offset))
FAIL_WRITE(pwritev2, (int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags), (fd, iov, iovcnt, offset, flags))

static int should_fail(int fd) {
  return should_fail_path(fd, 0);
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

export interface FaultOptions {
  /** File fsyncs fail too, not only directories'. */
  files?: boolean;
  /** Writes to matching regular files fail (EIO). */
  writes?: boolean;
}

export interface FsyncFault {
  /** The shared library's path. */
  library: string;
  /**
   * The environment for a child process: directory fsyncs whose path
   * contains `match` fail with EIO (while `flag` exists, when given), and
   * file fsyncs too with `files`, writes to matching regular files with `writes`.
   */
  env(match: string, flag?: string, options?: FaultOptions): Record<string, string>;
}

/** Compiles the library into `dir` and proves it works; throws otherwise. */
export async function buildFsyncFault(dir: string): Promise<FsyncFault> {
  const source = path.join(dir, 'fsync-fault.c');
  const library = path.join(dir, 'fsync-fault.so');
  await fs.writeFile(source, SOURCE);
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', library, source, '-ldl'], { stdio: 'pipe' });
  const env = (match: string, flag?: string, options: FaultOptions = {}): Record<string, string> => ({
    LD_PRELOAD: library,
    UV_USE_IO_URING: '0',
    FSYNC_FAIL_MATCH: match,
    ...(flag === undefined ? {} : { FSYNC_FAIL_FLAG: flag }),
    ...(options.files === true ? { FSYNC_FAIL_FILES: '1' } : {}),
    ...(options.writes === true ? { FSYNC_FAIL_WRITES: '1' } : {}),
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
  // Writes: synchronous at an offset (the journal's), appended, and through the thread pool.
  const writeScript = `
    const fs = require('node:fs');
    const fd = fs.openSync(process.argv[1], 'r+');
    const codes = [];
    for (const write of [() => fs.writeSync(fd, Buffer.from('x'), 0, 1, 0), () => fs.writeSync(fd, 'x'), () => fs.writevSync(fd, [Buffer.from('a'), Buffer.from('b')], 0)]) {
      try { write(); codes.push('ok'); } catch (e) { codes.push(e.code); }
    }
    fs.write(fd, Buffer.from('x'), 0, 1, 0, (e) => { console.log(codes.join(' ') + ' ' + (e ? e.code : 'ok')); });
  `;
  const runWrites = (extra: Record<string, string>) =>
    spawnSync(process.execPath, ['-e', writeScript, probeFile], { env: { ...process.env, ...extra }, encoding: 'utf8' }).stdout.trim();
  const writesFailing = runWrites(env('fsync-fault-probe', undefined, { writes: true }));
  const writesSpared = runWrites(env('fsync-fault-probe', undefined, { files: true }));
  if (writesFailing !== 'EIO EIO EIO EIO' || writesSpared !== 'ok ok ok ok') {
    throw new Error(`the LD_PRELOAD write fault does not work here (failing: "${writesFailing}", spared: "${writesSpared}")`);
  }
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
