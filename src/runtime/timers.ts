// Node runs a timer whose delay is over 2^31-1 ms (about 24.8 days), or not a number, after 1 ms:
// a long interval would become a busy loop. Every delay warren computes goes through here.

export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay Node's timers keep: within [0, MAX_TIMER_MS], and the longest for one that is not a number. */
export function timerDelay(ms: number): number {
  if (Number.isNaN(ms)) return MAX_TIMER_MS;
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}
