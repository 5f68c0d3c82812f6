/**
 * `bulkmailer agent`: run the agent in the foreground until SIGTERM/SIGINT
 * (exit 0 after a clean stop, see src/agent/agent.ts); SIGHUP re-reads
 * config.json. When another agent already holds the spool it says so and
 * exits 0 (so an autostart that fires twice is harmless and systemd does
 * not restart it); when a one-shot `flush` holds it, the agent waits for
 * that flush to end and then takes over.
 *
 * A second SIGTERM/SIGINT while stopping exits at once: state on disk is
 * consistent at every moment, the lock of a dead process is taken over.
 * Exit codes: 0 stopped or another agent runs; 78 bad config; 73/77 spool.
 *
 * The log (stderr, and log/agent.log off a terminal) is for people. With
 * --json, every event the agent emits (AgentEventMap) is also written to
 * stdout as one JSON object per line, {"event": NAME, "time": ISO, ...}:
 * what scripts and the black-box tests follow instead of the log wording.
 *
 * The SMTP listener (config listener.enabled) is src/frontends' listener,
 * handed to the agent here, loaded only when the agent starts it.
 */
import { Agent, AGENT_EVENTS, type ListenerStarter } from '../../agent/agent.js';
import { openAgentLog } from '../../agent/agent-log.js';
import { loadStoredConfig } from '../../config/store.js';
import type { CommandContext } from '../context.js';

// The listener nudges this agent directly (onAccepted), not through the trigger socket.
export const startAgentListener: ListenerStarter = async (home, onAccepted) =>
  (await import('../../frontends/listener/start-listener.js')).startListener({ home, nudge: false, onAccepted });

/** Writes each of the agent's events as a JSON line; a closed stdout loses lines, never the agent. */
function relayEvents(agent: Agent, stdout: NodeJS.WritableStream): void {
  stdout.on('error', () => {});
  for (const name of AGENT_EVENTS) {
    agent.on(name, (...args: unknown[]) => {
      const payload = (args[0] ?? {}) as Record<string, unknown>;
      stdout.write(`${JSON.stringify({ event: name, time: new Date().toISOString(), ...payload })}\n`);
    });
  }
}

/** After a stop, anything still holding the event loop (a flush that would not end) gets this long. */
const EXIT_AFTER_STOP_MS = 1_000;
/** A second stop signal sooner than this after the first is a duplicate, not "stop now". */
const REPEAT_SIGNAL_MS = 500;

/** The syslog socket when the agent logs to syslog (--syslog or config agent.syslog), else null. */
function syslogSocket(home: string, flag: boolean | undefined): string | null {
  let stored;
  try {
    stored = loadStoredConfig(home);
  } catch {
    // A broken config.json: the agent reports it as it starts; --syslog alone still works.
    return flag ? '/dev/log' : null;
  }
  return flag || stored.agent.syslog ? stored.agent.syslogSocket : null;
}

export default async function agentCommand(ctx: CommandContext, options: { json?: boolean; syslog?: boolean } = {}): Promise<number> {
  const log = openAgentLog(ctx.home, ctx.stderr, { syslogSocket: syslogSocket(ctx.home, options.syslog) });
  const agent = new Agent({ home: ctx.home, log: (line) => log.write(line), startListener: startAgentListener });
  if (options.json) relayEvents(agent, ctx.stdout);
  let firstSignalAt: number | null = null;
  const onStop = (signal: NodeJS.Signals) => {
    const now = performance.now();
    // The same signal delivered twice at once (to the process and its group) is one request.
    if (firstSignalAt !== null && now - firstSignalAt < REPEAT_SIGNAL_MS) return;
    if (firstSignalAt !== null) {
      log.write(`second ${signal}: exiting now`);
      process.exit(0);
    }
    firstSignalAt = now;
    void agent.stop(signal);
  };
  const onHup = () => void agent.reload();
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  try {
    let started;
    try {
      started = await agent.start();
    } catch (err) {
      log.write(`cannot start: ${(err as Error).message}`);
      throw err;
    }
    if (!started.started) {
      await agent.stop('not started');
      if (started.holder?.kind === 'agent') {
        log.write(`another agent is running (pid ${started.holder.pid}); nothing to do`);
      }
      return 0;
    }
    await new Promise<void>((resolve) => agent.once('stopped', () => resolve()));
    setTimeout(() => process.exit(process.exitCode ?? 0), EXIT_AFTER_STOP_MS).unref();
    return 0;
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
    log.close();
  }
}
