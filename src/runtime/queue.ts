// A work queue keyed by object, after client-go's workqueue: a key waiting in the queue is held
// once (bursts collapse), a key being processed is never handed out again until done() (changes
// meanwhile mark it dirty and it comes back once), failures back off per key, and delayed adds
// keep the earliest deadline, and namespaces take turns.
import { FairFifo } from './fair-fifo.ts';
import { MAX_TIMER_MS, timerDelay } from './timers.ts';

export interface QueueOptions {
  /** First retry delay after a failure. */
  baseDelayMs?: number;
  /** Longest retry delay. */
  maxDelayMs?: number;
  /** Global limit on rate-limited adds (token bucket), protecting the broker from retry storms. */
  qps?: number;
  burst?: number;
  now?: () => number;
}

export class WorkQueue {
  /** Waiting keys; namespaces take turns (see FairFifo). */
  private readonly queue = new FairFifo();
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  /** Each delayed key's deadline; the heap orders them for the one timer. */
  private readonly delayed = new Map<string, number>();
  private readonly deadlines = new DeadlineHeap();
  private timer: { at: number; handle: NodeJS.Timeout } | undefined;
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private readonly opts: Required<QueueOptions>;
  private tokens: number;
  private lastRefill: number;
  private shuttingDown = false;
  private handing = false;
  private idleWaiters: Array<() => void> = [];

  constructor(opts: QueueOptions = {}) {
    this.opts = {
      baseDelayMs: opts.baseDelayMs ?? 500,
      maxDelayMs: opts.maxDelayMs ?? 300_000,
      qps: opts.qps ?? 20,
      burst: opts.burst ?? 200,
      now: opts.now ?? Date.now,
    };
    this.tokens = this.opts.burst;
    this.lastRefill = this.opts.now();
  }

  /** Queues key now, unless it is already waiting. */
  add(key: string): void {
    if (this.shuttingDown) return;
    // Its heap entry stays until the timer passes it (it no longer matches delayed then).
    this.delayed.delete(key);
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    // Idle workers get it once the current task has run: adds of the same key in one burst (two
    // things it waits for, changed by one reconcile) collapse into one reconcile, not two.
    if (this.waiters.length && !this.handing) {
      this.handing = true;
      queueMicrotask(() => this.handOut());
    }
  }

  private handOut(): void {
    this.handing = false;
    while (this.waiters.length && this.queue.length) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      this.waiters.shift()!(key);
    }
  }

  /** Queues key after delayMs; an earlier pending deadline wins. */
  addAfter(key: string, delayMs: number): void {
    if (Number.isNaN(delayMs)) delayMs = MAX_TIMER_MS;
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = this.opts.now() + delayMs;
    const existing = this.delayed.get(key);
    if (existing !== undefined && existing <= at) return;
    this.delayed.set(key, at);
    this.deadlines.push(at, key);
    // Entries left behind by earlier deadlines and adds: dropped once they outnumber the live ones.
    if (this.deadlines.size > 2 * this.delayed.size + 1024) this.deadlines.rebuild(this.delayed);
    this.arm();
  }

  // One timer for the earliest deadline, not one per key: 10,000 resources waiting for their
  // resync were 10,000 timers (and as many timer lists, one per distinct delay).
  private arm(): void {
    const next = this.deadlines.peek();
    if (next === undefined || (this.timer && this.timer.at <= next)) return;
    if (this.timer) clearTimeout(this.timer.handle);
    // A deadline past the longest timer fires early, finds nothing due and arms again.
    const handle = setTimeout(() => this.fire(), timerDelay(next - this.opts.now()));
    handle.unref();
    this.timer = { at: next, handle };
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.opts.now();
    for (let e = this.deadlines.peekEntry(); e && e.at <= now; e = this.deadlines.peekEntry()) {
      this.deadlines.pop();
      // Stale unless it is still this key's deadline (the key may have been added or moved since).
      if (this.delayed.get(e.key) !== e.at) continue;
      this.delayed.delete(e.key);
      this.add(e.key);
    }
    this.arm();
  }

  /** Queues key after its next backoff step; returns the delay used. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const perKey = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** n);
    // Jitter spreads thousands of keys failing together (a broker outage) over time.
    const jittered = perKey * (0.8 + 0.4 * Math.random());
    const delay = Math.max(jittered, this.globalDelay());
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets key's backoff. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks key finished; if it changed meanwhile it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
    if (this.processing.size === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  get length(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  get pendingDelayed(): number {
    return this.delayed.size;
  }

  /** Stops handing out keys; resolves when in-flight work is done. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    if (this.timer) clearTimeout(this.timer.handle);
    this.timer = undefined;
    this.delayed.clear();
    this.deadlines.rebuild(this.delayed);
    this.queue.clear();
    this.queued.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
    if (this.processing.size > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  // Token bucket shared by all keys: when many keys fail at once their retries queue up behind it.
  private globalDelay(): number {
    const now = this.opts.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.opts.qps);
    this.lastRefill = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.opts.qps) * 1000;
  }
}

/** A binary min-heap of (deadline, key). */
class DeadlineHeap {
  private items: Array<{ at: number; key: string }> = [];

  get size(): number {
    return this.items.length;
  }

  peek(): number | undefined {
    return this.items[0]?.at;
  }

  peekEntry(): { at: number; key: string } | undefined {
    return this.items[0];
  }

  push(at: number, key: string): void {
    const a = this.items;
    a.push({ at, key });
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.at <= a[i]!.at) break;
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }

  pop(): void {
    const a = this.items;
    const last = a.pop();
    if (!a.length || !last) return;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < a.length && a[l]!.at < a[min]!.at) min = l;
      if (r < a.length && a[r]!.at < a[min]!.at) min = r;
      if (min === i) break;
      [a[min], a[i]] = [a[i]!, a[min]!];
      i = min;
    }
  }

  /** Only the entries of these deadlines. */
  rebuild(live: Map<string, number>): void {
    this.items = [];
    for (const [key, at] of live) this.push(at, key);
  }
}
