/**
 * The entry of the sendmail command's start-up snapshot: a V8 heap image
 * that Node loads instead of its own (`node --snapshot-blob`), with this
 * code's modules already evaluated and its queueing functions already
 * compiled. scripts/bundle-sendmail.mjs bundles this file and what it
 * imports into one CommonJS script and runs `node --build-snapshot` on it
 * at build time; bin/bulkmailer-sendmail starts Node with the blob, and
 * runs the plain bundle (dist/bundle/sendmail/entry.js) whenever that
 * Node exits with DECLINED, or with REFUSED and no other blob to try. See
 * docs/performance.md for what it saves.
 *
 * It only queues (deliver mode with -odq, the default: what cron, mail
 * clients and list software run once per message). Any other mode (-bp,
 * -bs, -q, -odi, -odb, --help, --version, the mailq name) it declines
 * before reading stdin or touching the spool, so the full command gets
 * both intact. A usage error it reports itself, as the full command would.
 *
 * What runs at build time must not capture run-time state: warmUp() calls
 * only pure functions (no file opened, no environment read), so the spool
 * code's module-level state (directories already checked, the fsync
 * group, the directory handles kept open: a descriptor number captured in
 * the image would name some other file in the run) is as empty in the
 * image as at a fresh start. Environment, time
 * zone, pid, cwd and randomness are the run's own (Node refreshes them;
 * the queue ids' pool of random bytes is emptied before the image is
 * written, as the boot id is forgotten);
 * nothing else of the process or machine may be computed at module load
 * in code this imports (uid, host name, paths from the environment...):
 * it would be the builder's in every run, and the dist blob is often built
 * by root (docs/performance.md; test/frontends/sendmail-snapshot-build-
 * state.test.ts builds one under another uid, host and environment).
 *
 * The launcher gives this process /dev/null as fd 2 (Node's complaint about
 * a blob it cannot load must not reach the user) and the real stderr as
 * the fd named by $BULKMAILER_STDERR_FD, which becomes process.stderr here,
 * first thing. It also starts it without NODE_EXTRA_CA_CERTS (Node 20
 * parses its CA store at start-up when that is set; queueing makes no TLS
 * connection) and NODE_OPTIONS (on Node 20 a V8 flag in it makes Node
 * refuse the blob), passed as BULKMAILER_NODE_EXTRA_CA_CERTS and
 * BULKMAILER_NODE_OPTIONS instead, which runFromSnapshot puts back first
 * thing, for any process this one starts.
 */
import { writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { startupSnapshot } from 'node:v8';
import { resolveHome } from '../../config/home.js';
import { resolveStoredConfig } from '../../config/store.js';
import { bootTag, forgetBootId, forgetCrashSetting } from '../../spool/index.js';
import { newEntryState, serializeEntryState } from '../../model/entry-state.js';
import { normalizeRecipients } from '../../model/address.js';
import { forgetRandomPool, newQueueId } from '../../model/queue-id.js';
import { endQuietlyWhenReaderGoes } from '../../output-stream.js';
import { reportError } from '../../report-error.js';
import { checkSubmissionEnvelope, prepareSubmission } from '../submit-message.js';
import { deliverMode, PROGRAM, say, sendmailSubmitRequest } from './deliver-mode.js';
import { sendmailConfigOf } from './read-config.js';
import { parseSendmailArgs, type SendmailArgs } from './parse-args.js';
import { personaOf, type SendmailPersona } from './persona.js';

/**
 * Node's own exit code for a start-up snapshot it cannot load (another
 * Node version, other V8 flags): bin/bulkmailer-sendmail then tries its
 * next blob (the per-user one first, then dist's), and the plain bundle
 * after the last.
 */
export const REFUSED = 14;

/**
 * "Run the full command instead": the snapshot loaded, but these arguments
 * are not the queueing it runs (-bp, -q, mailq...). Another blob would
 * decline them too, so the launcher goes straight to the plain bundle:
 * one Node start less than trying dist's blob after a per-user one. Not
 * an exit code of Node's (1-14, or above 128 for a signal) nor of either
 * command (0, and the sysexits 64-78); keep bin/bulkmailer-sendmail in step.
 */
export const DECLINED = 15;

/**
 * Names the fd where bin/bulkmailer-sendmail passes the real stderr (keep
 * the two in step). An explicit word rather than "fd 4 if open": started
 * any other way, Node's own descriptors (epoll, signal pipes) sit there.
 */
export const STDERR_FD_ENV = 'BULKMAILER_STDERR_FD';

/**
 * Where bin/bulkmailer-sendmail passes NODE_EXTRA_CA_CERTS and NODE_OPTIONS
 * to the snapshot, which Node would otherwise read at start-up (keep the
 * two in step).
 */
export const EXTRA_CA_CERTS_ENV = 'BULKMAILER_NODE_EXTRA_CA_CERTS';
export const NODE_OPTIONS_ENV = 'BULKMAILER_NODE_OPTIONS';
const PASSED_ENV: readonly (readonly [string, string])[] = [
  [EXTRA_CA_CERTS_ENV, 'NODE_EXTRA_CA_CERTS'],
  [NODE_OPTIONS_ENV, 'NODE_OPTIONS'],
];

/** Puts NODE_EXTRA_CA_CERTS and NODE_OPTIONS back from where the launcher passed them, so that what this process starts has them. */
export function restorePassedEnv(env: NodeJS.ProcessEnv = process.env): void {
  for (const [passed, name] of PASSED_ENV) {
    const value = env[passed];
    if (value === undefined) continue;
    delete env[passed];
    env[name] = value;
  }
}

/** process.stderr writes to the fd named in `env[STDERR_FD_ENV]` (synchronously, as Node's stderr does), if any. */
export function useLauncherStderr(env: NodeJS.ProcessEnv = process.env): void {
  const value = env[STDERR_FD_ENV];
  delete env[STDERR_FD_ENV]; // nobody after us should take it for theirs
  if (value === undefined || !/^[3-9]$/.test(value)) return;
  const fd = Number(value);
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        writeSync(fd, chunk);
        done();
      } catch (err) {
        done(err as Error); // EPIPE included: endQuietlyWhenReaderGoes handles it
      }
    },
  });
  Object.defineProperty(process, 'stderr', { configurable: true, enumerable: true, get: () => stream });
}

/** Whether the snapshot runs these arguments itself (it queues, nothing else). */
export function snapshotRuns(args: SendmailArgs, persona: SendmailPersona): boolean {
  return persona === 'sendmail' && args.mode === 'deliver' && args.deliveryMode === 'queue';
}

/** The snapshot's main: argv as given to the command, scriptPath as it was called ($0, for the mailq name); env: the process's (a test's own). */
export async function runFromSnapshot(argv: string[], scriptPath: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  restorePassedEnv(env);
  let args: SendmailArgs;
  try {
    args = parseSendmailArgs(argv);
  } catch (err) {
    return reportError(err, PROGRAM);
  }
  if (!snapshotRuns(args, personaOf(scriptPath))) return DECLINED;
  try {
    say(args, 'started from the start-up snapshot');
    return await deliverMode(args, resolveHome(args.home ?? undefined), null);
  } catch (err) {
    return reportError(err, PROGRAM);
  }
}

/**
 * Compiles the queueing path's functions into the image by running the
 * pure part of that very path once (arguments, config validation, the
 * request, envelope checks, the message's header, the new entry's state),
 * with no file, environment or clock of the run involved.
 */
async function warmUp(): Promise<void> {
  const args = parseSendmailArgs(['-f', 'ada@example.org', '-t', 'bob@example.net']);
  const config = sendmailConfigOf(resolveStoredConfig('/nonexistent', { from: 'ada@example.org' }));
  const text = 'From: Ada <ada@example.org>\nTo: bob@example.net, "Carol C." <carol@example.net>\nSubject: =?utf-8?q?warm?=\n\nbody\n.\n';
  async function* input(): AsyncGenerator<Buffer> {
    yield Buffer.from(text);
  }
  const request = sendmailSubmitRequest(args, '/nonexistent', config, input());
  const envelope = checkSubmissionEnvelope(request);
  const { prepared, recipients } = await prepareSubmission(request, envelope);
  let size = 0;
  for await (const chunk of prepared.message) size += chunk.length;
  // The pending commit's name reads the boot id: compiled here, its value dropped before the image is written.
  bootTag();
  serializeEntryState(newEntryState({
    id: newQueueId(0, '0'),
    from: envelope.sender,
    recipients: normalizeRecipients(recipients),
    now: 0,
    size,
    subject: prepared.subject,
    messageId: prepared.messageId,
  }));
}

if (startupSnapshot.isBuildingSnapshot()) {
  // A failed warm-up fails the build (the unhandled rejection exits non-zero): better than an image that half works.
  void warmUp();
  // A boot id the build read (the warm-up) is the build's boot, maybe not a run's: never in the image.
  startupSnapshot.addSerializeCallback(forgetBootId);
  // The queue id's random bytes the warm-up drew: in the image, every run would draw the same ones.
  startupSnapshot.addSerializeCallback(forgetRandomPool);
  // BULKMAILER_CRASH_AT, had the warm-up met a crash point: a run reads its own (crash-points.ts).
  startupSnapshot.addSerializeCallback(forgetCrashSetting);
  startupSnapshot.setDeserializeMainFunction(async () => {
    useLauncherStderr();
    // Queueing writes nothing to stdout, and touching process.stdout would build its stream (~0.5 ms).
    endQuietlyWhenReaderGoes([process.stderr]);
    process.exitCode = await runFromSnapshot(process.argv.slice(2), process.argv[1]);
  });
}
