/**
 * Time limits that depend on each other, written once with their relation
 * (as qmail writes "DEATH ... must be below OSSIFIED"). Change one here and
 * the others follow; a test checks the relations.
 */

/**
 * How long a stopping agent lets an in-flight flush finish before it
 * aborts it. MUST be below SERVICE_STOP_TIMEOUT_S, or the service manager
 * kills a clean stop half-way.
 */
export const AGENT_STOP_GRACE_MS = 15_000;

/**
 * systemd's TimeoutStopSec and launchd's ExitTimeOut in the files
 * `autostart install` writes: twice the agent's grace, so the manager's
 * SIGKILL only ever meets an agent that is stuck.
 */
export const SERVICE_STOP_TIMEOUT_S = (2 * AGENT_STOP_GRACE_MS) / 1000;

/**
 * How long a state update (flusher, hold, retry, delete) waits for another
 * process's update of the same entry: far above the milliseconds one state
 * rewrite takes, so hitting it means a stuck process, not contention.
 */
export const STATE_LOCK_WAIT_MS = 10_000;
