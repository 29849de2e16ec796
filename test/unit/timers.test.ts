import { afterEach, describe, expect, it, vi } from 'vitest';
import { Deadline } from '../../src/runtime/deadline.ts';
import { WorkQueue } from '../../src/runtime/queue.ts';
import { MAX_TIMER_MS, timerDelay } from '../../src/runtime/timers.ts';
import { parseDuration } from '../../src/runtime/duration.ts';

// Node fires a timer whose delay does not fit in 32 bits after 1 ms: each such delay must be
// clamped, or a long interval (surveyInterval: 600h) turns into a loop that never rests.
const delays = () => {
  const seen: number[] = [];
  const real = globalThis.setTimeout;
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
    seen.push(ms ?? 0);
    return real(fn, ms);
  }) as typeof setTimeout);
  return seen;
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('timers', () => {
  it('clamp every delay into what Node keeps', () => {
    expect(timerDelay(parseDuration('600h'))).toBe(MAX_TIMER_MS);
    expect(timerDelay(-5)).toBe(0);
    expect(timerDelay(Number.NaN)).toBe(MAX_TIMER_MS);
    expect(timerDelay(Number.POSITIVE_INFINITY)).toBe(MAX_TIMER_MS);
    expect(timerDelay(1500)).toBe(1500);
  });

  it('the work queue never arms a timer Node would fire at once for a long delay', async () => {
    const seen = delays();
    const q = new WorkQueue({ now: () => Date.now() });
    q.addAfter('survey', parseDuration('600h'));
    q.addAfter('other', Number.NaN);
    expect(seen.length).toBeGreaterThan(0);
    expect(Math.max(...seen)).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(Math.min(...seen)).toBeGreaterThan(1000);
    // Nothing is handed out early, and no timer re-arms in a loop meanwhile.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => globalThis.setTimeout(r, 50));
    expect(q.length).toBe(0);
    expect(seen.length).toBeLessThanOrEqual(3);
    await q.shutdown();
  });

  it('a request deadline of any length is a timer Node keeps', () => {
    const seen = delays();
    const d = new Deadline(parseDuration('1000h'));
    expect(seen).toEqual([MAX_TIMER_MS]);
    expect(d.expired).toBe(false);
    d.clear();
  });
});
