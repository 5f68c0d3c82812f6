/**
 * Backoff and queue lifetime: pure functions of attempts and time.
 *
 * The defaults are config's (retry.* in src/config/schema.ts, after
 * Postfix's minimal_backoff_time 300s, maximal_backoff_time 4000s,
 * maximal_queue_lifetime 5d, rounded to what people remember).
 */
export interface RetryPolicy {
  /** Delay after the first deferral. */
  backoffStartMs: number;
  /** Each further deferral multiplies the delay by this. */
  backoffFactor: number;
  /** The delay never grows past this. */
  backoffMaxMs: number;
  /** Counted retry time after which a deferred recipient fails as expired. */
  lifetimeMs: number;
}

/** The delay before the next attempt after `attempts` real attempts (>= 1). */
export function backoffDelay(attempts: number, policy: RetryPolicy): number {
  const exponent = Math.max(0, attempts - 1);
  const delay = policy.backoffStartMs * Math.pow(policy.backoffFactor, exponent);
  return Math.min(policy.backoffMaxMs, Math.round(delay));
}
