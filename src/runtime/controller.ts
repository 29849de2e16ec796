import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Metrics } from './metrics.ts';
import { WorkQueue, type QueueOptions } from './queue.ts';
import { describeError } from './kube.ts';

/**
 * What a reconcile asks for next: nothing (wait for a change), a run after a delay, or a retry
 * on the key's backoff schedule. A thrown error also means "retry with backoff".
 */
export type Outcome = { requeueAfterMs: number } | { backoff: true } | undefined | void;

export interface ReconcileContext {
  log: Logger;
  /** How many times in a row this key has failed. */
  retries: number;
}

export interface ControllerOptions {
  name: string;
  reconcile: (key: string, ctx: ReconcileContext) => Promise<Outcome>;
  log: Logger;
  metrics?: Metrics;
  concurrency?: number;
  queue?: QueueOptions;
  /** While this says false (a cache is not synced), no key is handed out; keys wait in the queue. */
  gate?: () => boolean;
}

/** Workers draining one work queue into one reconcile function, level-based by key. */
export class Controller {
  readonly queue: WorkQueue;
  private readonly o: ControllerOptions;
  private workers: Promise<void>[] = [];
  private stopping = false;

  constructor(opts: ControllerOptions) {
    this.o = opts;
    this.queue = new WorkQueue(opts.queue);
  }

  enqueue(key: string): void {
    this.queue.add(key);
    this.o.metrics?.queueDepth.set({ name: this.o.name }, this.queue.length);
  }

  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  start(): void {
    const n = this.o.concurrency ?? 16;
    for (let i = 0; i < n; i++) this.workers.push(this.work());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.queue.shutdown();
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    for (;;) {
      while (this.o.gate && !this.o.gate() && !this.stopping) await sleep(200);
      const key = await this.queue.get();
      if (key === undefined) return;
      await this.handle(key);
      this.queue.done(key);
      this.o.metrics?.queueDepth.set({ name: this.o.name }, this.queue.length);
    }
  }

  private async handle(key: string): Promise<void> {
    const { name, metrics } = this.o;
    const log = this.o.log.child({ controller: name, key, reconcileID: randomBytes(4).toString('hex') });
    const end = metrics?.reconcileTime.startTimer({ controller: name });
    try {
      const outcome = await this.o.reconcile(key, { log, retries: this.queue.retries(key) });
      if (outcome && 'backoff' in outcome) {
        const delay = this.queue.addRateLimited(key);
        metrics?.queueRetries.inc({ name });
        metrics?.reconcileTotal.inc({ controller: name, result: 'requeue' });
        log.debug({ delayMs: Math.round(delay) }, 'retrying with backoff');
      } else {
        this.queue.forget(key);
        if (outcome && 'requeueAfterMs' in outcome) {
          this.queue.addAfter(key, outcome.requeueAfterMs);
          metrics?.reconcileTotal.inc({ controller: name, result: 'requeue_after' });
        } else {
          metrics?.reconcileTotal.inc({ controller: name, result: 'success' });
        }
      }
    } catch (err) {
      const delay = this.queue.addRateLimited(key);
      metrics?.reconcileErrors.inc({ controller: name });
      metrics?.reconcileTotal.inc({ controller: name, result: 'error' });
      metrics?.queueRetries.inc({ name });
      log.warn({ err: describeError(err), delayMs: Math.round(delay) }, 'reconcile failed');
    } finally {
      end?.();
    }
  }
}
