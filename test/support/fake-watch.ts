import { pino, type Logger } from 'pino';
import type { Watcher } from '../../src/runtime/informer.ts';

/** One watch request made to a FakeWatcher; the test decides how it goes. */
export interface FakeWatchCall {
  path: string;
  params: Record<string, unknown>;
  /** The server answered 200: the watch() promise resolves (awaited: the caller has seen it). */
  open(): Promise<void>;
  /** The request failed before or after opening (like client-node: done(err), then resolve). */
  fail(err: unknown): void;
  /** The stream ended cleanly. */
  end(): void;
  emit(phase: string, obj: unknown): void;
  readonly aborted: boolean;
  readonly ended: boolean;
}

/** A Watcher whose requests the test drives one by one. */
export class FakeWatcher implements Watcher {
  readonly calls: FakeWatchCall[] = [];
  private waiters: Array<() => void> = [];

  watch(
    path: string,
    params: Record<string, unknown>,
    onEvent: (phase: string, obj: any) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return new Promise((resolve) => {
      const ac = new AbortController();
      let ended = false;
      let resolved = false;
      const settle = () => {
        if (!resolved) {
          resolved = true;
          resolve(ac);
        }
      };
      const finish = (err: unknown) => {
        if (ended) return;
        ended = true;
        done(err);
      };
      ac.signal.addEventListener('abort', () =>
        finish(Object.assign(new Error('aborted'), { name: 'AbortError' })),
      );
      const call: FakeWatchCall = {
        path,
        params,
        open: () => {
          settle();
          return new Promise<void>((r) => setImmediate(r));
        },
        fail: (err) => {
          finish(err);
          settle();
        },
        end: () => finish(null),
        emit: (phase, obj) => {
          if (!ended) onEvent(phase, obj);
        },
        get aborted() {
          return ac.signal.aborted;
        },
        get ended() {
          return ended;
        },
      };
      this.calls.push(call);
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  }

  /** The n-th call (0-based), waiting for it to be made; bounded by the caller's test timeout. */
  async call(n: number): Promise<FakeWatchCall> {
    while (this.calls.length <= n) await new Promise<void>((r) => this.waiters.push(r));
    return this.calls[n]!;
  }
}

/** A pino logger that keeps its records in memory. */
export function memoryLogger(): { log: Logger; records: Array<Record<string, any>> } {
  const records: Array<Record<string, any>> = [];
  const stream = {
    write(line: string) {
      records.push(JSON.parse(line));
    },
  };
  return { log: pino({ level: 'debug' }, stream), records };
}
