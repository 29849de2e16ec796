import { timerDelay } from './timers.ts';

/**
 * A request's time limit, cleared when the request ends. AbortSignal.timeout cannot be cleared:
 * its timer fires after every request, long finished, and if the signal has not been collected by
 * then it builds a DOMException (a stack trace) and dispatches an abort nobody listens to, about
 * one per request made in the last timeout period.
 */
export class Deadline {
  readonly #ac = new AbortController();
  readonly #timer: NodeJS.Timeout;
  #expired = false;

  constructor(ms: number) {
    this.#timer = setTimeout(() => {
      this.#expired = true;
      this.#ac.abort(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEDOUT' }));
    }, timerDelay(ms));
  }

  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  /** Whether the time ran out (rather than another signal aborting the request). */
  get expired(): boolean {
    return this.#expired;
  }

  /** The request ended: the timer goes. */
  clear(): void {
    clearTimeout(this.#timer);
  }
}
