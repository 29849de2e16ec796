import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from '../../src/runtime/queue.ts';

/** Resolves to the promise's value, or 'pending' if it has not settled after the microtasks ran. */
async function peek<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

describe('WorkQueue: dedup and exclusivity', () => {
  it('holds a key added many times while waiting once', async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 5; i++) q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
    // Nothing else is waiting: a third get() stays pending.
    expect(await peek(q.get())).toBe('pending');
  });

  it('never hands out a key being processed, and gives it back once after done() if added meanwhile', async () => {
    const q = new WorkQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    expect(q.inFlight).toBe(1);

    q.add('a');
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0);
    const next = q.get();
    expect(await peek(next)).toBe('pending');

    q.done('a');
    expect(await next).toBe('a');
    expect(q.inFlight).toBe(1);
    // Exactly once: after that round nothing is left.
    q.done('a');
    expect(q.length).toBe(0);
    expect(q.inFlight).toBe(0);
    expect(await peek(q.get())).toBe('pending');
  });

  it('does not re-queue a processed key that was not added meanwhile', async () => {
    const q = new WorkQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(q.length).toBe(0);
    expect(await peek(q.get())).toBe('pending');
  });

  it('hands a key straight to a waiting get()', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    expect(await peek(waiting)).toBe('pending');
    q.add('x');
    expect(await waiting).toBe('x');
    expect(q.inFlight).toBe(1);
    expect(q.length).toBe(0);
  });

  it('collapses adds of one key in one burst into one hand-out, even with a get() waiting', async () => {
    const q = new WorkQueue();
    const first = q.get();
    const second = q.get();
    q.add('x'); // a resource's status changed...
    q.add('x'); // ...and its object was created: both wake the same dependent
    expect(await first).toBe('x');
    expect(await peek(second)).toBe('pending');
    q.done('x');
    expect(await peek(second)).toBe('pending'); // not handed out again
    q.add('y');
    expect(await second).toBe('y');
  });
});

describe('WorkQueue: delays and backoff', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('addAfter keeps the earliest deadline (later request first)', () => {
    const q = new WorkQueue({ now: () => Date.now() });
    q.addAfter('a', 5000);
    q.addAfter('a', 1000);
    expect(q.pendingDelayed).toBe(1);
    vi.advanceTimersByTime(999);
    expect(q.length).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.length).toBe(1);
    expect(q.pendingDelayed).toBe(0);
  });

  it('addAfter keeps the earliest deadline (earlier request first)', () => {
    const q = new WorkQueue({ now: () => Date.now() });
    q.addAfter('a', 1000);
    q.addAfter('a', 5000);
    expect(q.pendingDelayed).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(q.length).toBe(1);
    // The later request was dropped, not kept as a second timer.
    expect(q.pendingDelayed).toBe(0);
  });

  it('many delayed keys come out in deadline order through one timer', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const q = new WorkQueue({ now: () => Date.now() });
    const delays = Array.from({ length: 200 }, (_, i) => ((i * 7919) % 200) * 10 + 10.5);
    delays.forEach((d, i) => q.addAfter(`k${i}`, d));
    expect(q.pendingDelayed).toBe(200);
    expect(vi.getTimerCount()).toBe(1);
    const order: string[] = [];
    for (let t = 0; t <= 2010; t += 10) {
      vi.advanceTimersByTime(10);
      while (q.length) order.push((await q.get())!);
    }
    const expected = delays
      .map((d, i) => [d, `k${i}`] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, k]) => k);
    expect(order).toEqual(expected);
    expect(q.pendingDelayed).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a deadline moved earlier, or cancelled by add(), fires once and at the new time', async () => {
    const q = new WorkQueue({ now: () => Date.now() });
    for (let i = 0; i < 3000; i++) q.addAfter('a', 100_000 - i); // each earlier than the last
    q.addAfter('b', 500);
    q.add('b');
    expect(await q.get()).toBe('b');
    q.done('b');
    vi.advanceTimersByTime(1000);
    expect(q.length).toBe(0); // b's old deadline is not a second add
    vi.advanceTimersByTime(97_000);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    vi.advanceTimersByTime(10_000);
    expect(q.length).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('add() cancels a pending delayed add', () => {
    const q = new WorkQueue({ now: () => Date.now() });
    q.addAfter('a', 1000);
    q.add('a');
    expect(q.length).toBe(1);
    expect(q.pendingDelayed).toBe(0);
  });

  it('addRateLimited grows exponentially per key, caps, and forget() resets it', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5); // jitter factor exactly 1
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000, now: () => Date.now() });
    expect([1, 2, 3, 4, 5].map(() => q.addRateLimited('a'))).toEqual([100, 200, 400, 800, 1000]);
    expect(q.retries('a')).toBe(5);
    // Another key has its own count.
    expect(q.addRateLimited('b')).toBe(100);
    q.forget('a');
    expect(q.retries('a')).toBe(0);
    expect(q.addRateLimited('a')).toBe(100);
  });

  it('addRateLimited really delays the key by the returned amount', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const q = new WorkQueue({ baseDelayMs: 100, now: () => Date.now() });
    const delay = q.addRateLimited('a');
    vi.advanceTimersByTime(delay - 1);
    expect(q.length).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.length).toBe(1);
  });

  it('jitters the per-key delay within ±20%', () => {
    const q = new WorkQueue({ baseDelayMs: 1000, now: () => Date.now() });
    const random = vi.spyOn(Math, 'random');
    random.mockReturnValue(0);
    expect(q.addRateLimited('lo')).toBeCloseTo(800);
    random.mockReturnValue(0.999999);
    expect(q.addRateLimited('hi')).toBeCloseTo(1200, 0);
  });

  it('the global token bucket delays retries once the burst is used up', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const q = new WorkQueue({ baseDelayMs: 1, qps: 10, burst: 5, now: () => Date.now() });
    // Many keys failing at once (a broker outage), with the clock standing still.
    const delays = Array.from({ length: 8 }, (_, i) => q.addRateLimited(`k${i}`));
    expect(delays.slice(0, 5)).toEqual([1, 1, 1, 1, 1]);
    // Beyond the burst, each retry waits one more token (1/qps s) behind the previous one.
    expect(delays.slice(5)).toEqual([100, 200, 300]);

    // The bucket refills at qps, up to burst.
    vi.advanceTimersByTime(10_000);
    expect(q.addRateLimited('later')).toBe(1);
  });
});

describe('WorkQueue: shutdown', () => {
  it('resolves waiting get() calls with undefined and hands out nothing afterwards', async () => {
    const q = new WorkQueue();
    const w1 = q.get();
    const w2 = q.get();
    await q.shutdown();
    expect(await w1).toBeUndefined();
    expect(await w2).toBeUndefined();
    q.add('a');
    expect(q.length).toBe(0);
    expect(await q.get()).toBeUndefined();
  });

  it('drops queued keys and waits for in-flight keys to be done', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('c');
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');

    let stopped = false;
    const stopping = q.shutdown().then(() => {
      stopped = true;
    });
    expect(await q.get()).toBeUndefined(); // 'c' was dropped
    await peek(stopping);
    expect(stopped).toBe(false);
    q.done('a');
    await peek(stopping);
    expect(stopped).toBe(false);
    q.done('b');
    await stopping;
    expect(stopped).toBe(true);
    expect(q.inFlight).toBe(0);
  });

  it('does not re-queue a dirty key once shut down', async () => {
    const q = new WorkQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a'); // dirty
    const stopping = q.shutdown();
    q.done('a');
    await stopping;
    expect(q.length).toBe(0);
    expect(q.inFlight).toBe(0);
  });
});
