import type { Kube } from '../../src/runtime/kube.ts';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InformerGroup } from '../../src/runtime/informer-group.ts';
import { strip, SupervisedInformer } from '../../src/runtime/informer.ts';
import { FakeWatcher, memoryLogger } from '../support/fake-watch.ts';

type Obj = {
  metadata: { name: string; namespace: string; resourceVersion: string; managedFields?: unknown };
};
type List = { metadata: { resourceVersion: string }; items: Obj[] };

const obj = (name: string, rv: string): Obj => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv, managedFields: [{ manager: 'kubectl' }] },
});
const list = (rv: string, ...items: Obj[]): List => ({ metadata: { resourceVersion: rv }, items });

/** A list function the test answers call by call. */
class Lister {
  calls = 0;
  private answers: Array<() => Promise<List>> = [];
  private waiters: Array<() => void> = [];
  fn = (): Promise<List> => {
    this.calls++;
    for (const w of this.waiters.splice(0)) w();
    const a = this.answers.shift();
    return a ? a() : Promise.reject(new Error('connect ECONNREFUSED'));
  };
  ok(l: List) {
    this.answers.push(() => Promise.resolve(structuredClone(l)));
  }
  fail(times: number) {
    for (let i = 0; i < times; i++)
      this.answers.push(() => Promise.reject(new Error('connect ECONNREFUSED')));
  }
  /** The next answer is held until release() is called. */
  held(l: List): () => void {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    this.answers.push(() => gate.then(() => structuredClone(l)));
    return release;
  }
  async waitCalls(n: number) {
    while (this.calls < n) await new Promise<void>((r) => this.waiters.push(r));
  }
}

async function peek<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

function setup(opts: { healthyAfterMs?: number } = {}) {
  const watcher = new FakeWatcher();
  const lister = new Lister();
  const { log, records } = memoryLogger();
  const seen = { changes: [] as string[], deletes: [] as string[], syncs: [] as boolean[], restarts: 0 };
  const inf = new SupervisedInformer<any>({
    name: 'things',
    kube: {} as Kube,
    path: '/apis/x/v1/things',
    list: lister.fn,
    log,
    onChange: (o) => seen.changes.push(`${o.metadata.name}@${o.metadata.resourceVersion}`),
    onDelete: (o) => seen.deletes.push(o.metadata.name),
    onRestart: () => seen.restarts++,
    onSyncChange: (v) => seen.syncs.push(v),
    watcher,
    backoff: { baseMs: 2, maxMs: 1000 },
    healthyAfterMs: opts.healthyAfterMs ?? 1e9,
  });
  const warnings = () => records.filter((r) => r.level >= 40);
  const delays = () => warnings().map((r) => r.delayMs);
  return { inf, watcher, lister, seen, records, warnings, delays };
}

let informers: Array<SupervisedInformer<any>> = [];
beforeEach(() => {
  // No jitter: each delay is exactly base * 2^attempt.
  vi.spyOn(Math, 'random').mockReturnValue(1);
});
afterEach(async () => {
  for (const i of informers) await i.stop();
  informers = [];
  vi.restoreAllMocks();
});
const make = (opts?: { healthyAfterMs?: number }) => {
  const s = setup(opts);
  informers.push(s.inf);
  return s;
};

describe('SupervisedInformer: synced only after a LIST that succeeded', () => {
  it('start() waits through failed LISTs, backing off more each time, and is not synced meanwhile', async () => {
    const { inf, watcher, lister, seen, delays } = make();
    lister.fail(4);
    lister.ok(list('10', obj('a', '1')));
    const started = inf.start();
    const call = await watcher.call(0);
    // The LIST succeeded but the watch is not open yet: not synced, start() pending.
    expect(lister.calls).toBe(5);
    expect(inf.isSynced).toBe(false);
    expect(await peek(started)).toBe('pending');
    expect(delays()).toEqual([2, 4, 8, 16]);
    expect(seen.restarts).toBe(4);
    expect(call.params.resourceVersion).toBe('10');

    await call.open();
    await started;
    expect(inf.isSynced).toBe(true);
    expect(seen.syncs).toEqual([true]);
    expect(seen.changes).toEqual(['a@1']);
    // managedFields are not kept.
    expect(inf.get('a', 'ns')?.metadata.managedFields).toBeUndefined();
    expect(inf.list('ns').map((o) => o.metadata.name)).toEqual(['a']);
    expect(inf.list().length).toBe(1);
  });

  it('an empty cache from a failed LIST is never reported as synced', async () => {
    const { inf, lister } = make();
    lister.fail(3);
    void inf.start();
    await lister.waitCalls(3);
    expect(inf.isSynced).toBe(false);
    expect(inf.list()).toEqual([]);
  });

  it('a failed watch unsyncs at once; the relist emits deletes for what vanished and changes for what changed', async () => {
    const { inf, watcher, lister, seen } = make();
    lister.ok(list('10', obj('a', '1'), obj('b', '1')));
    const started = inf.start();
    const w0 = await watcher.call(0);
    await w0.open();
    await started;
    w0.emit('MODIFIED', obj('b', '2'));
    w0.emit('ADDED', obj('d', '3'));
    w0.emit('DELETED', obj('d', '4'));
    expect(seen.changes).toEqual(['a@1', 'b@1', 'b@2', 'd@3']);
    expect(seen.deletes).toEqual(['d']);

    const release = lister.held(list('20', obj('b', '5'), obj('c', '1')));
    w0.fail(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    expect(inf.isSynced).toBe(false);
    await lister.waitCalls(2);
    expect(inf.isSynced).toBe(false);
    release();
    const w1 = await watcher.call(1);
    expect(w1.params.resourceVersion).toBe('20');
    expect(seen.deletes).toEqual(['d', 'a']);
    expect(seen.changes.slice(4)).toEqual(['b@5', 'c@1']);
    expect(inf.isSynced).toBe(false);
    await w1.open();
    await vi.waitFor(() => expect(inf.isSynced).toBe(true), { timeout: 5000 });
    expect(seen.syncs).toEqual([true, false, true]);
    expect(
      inf
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['b', 'c']);
  });

  it('a watch that cannot open (connection refused) is a failure even after a good LIST', async () => {
    const { inf, watcher, lister, seen, warnings } = make();
    lister.ok(list('10'));
    lister.ok(list('11'));
    void inf.start();
    (await watcher.call(0)).fail(new TypeError('fetch failed'));
    expect(inf.isSynced).toBe(false);
    await (await watcher.call(1)).open();
    await vi.waitFor(() => expect(inf.isSynced).toBe(true), { timeout: 5000 });
    expect(lister.calls).toBe(2);
    expect(seen.restarts).toBe(1);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]!.msg).toMatch(/failed/);
  });
});

describe('SupervisedInformer: list()', () => {
  it('hands out one frozen array until the cache changes (the idle survey allocates nothing per object)', async () => {
    const { inf, watcher, lister } = make();
    lister.ok(list('10', obj('a', '1'), obj('b', '1')));
    const started = inf.start();
    const w0 = await watcher.call(0);
    await w0.open();
    await started;
    const first = inf.list();
    expect(Object.isFrozen(first)).toBe(true);
    expect(inf.list()).toBe(first);
    // A change of any kind is a new array; nothing else is.
    w0.emit('MODIFIED', obj('b', '2'));
    const second = inf.list();
    expect(second).not.toBe(first);
    expect(second.map((o) => o.metadata.resourceVersion).sort()).toEqual(['1', '2']);
    expect(inf.list()).toBe(second);
    w0.emit('DELETED', obj('a', '3'));
    expect(inf.list().map((o) => o.metadata.name)).toEqual(['b']);
    // A delete of what the cache does not hold changes nothing.
    const third = inf.list();
    w0.emit('DELETED', obj('zz', '4'));
    expect(inf.list()).toBe(third);
    w0.emit('ADDED', obj('c', '5'));
    expect(inf.list()).not.toBe(third);
    expect(first.map((o) => o.metadata.name).sort()).toEqual(['a', 'b']);
  });

  it('a group of per-namespace informers hands out one array while no member changed', () => {
    const lists = new Map<string, ReadonlyArray<any>>([
      ['x', Object.freeze([{ metadata: { name: 'a' } }])],
      ['y', Object.freeze([{ metadata: { name: 'b' } }])],
    ]);
    const member = (ns: string) => ({ list: () => lists.get(ns)! }) as unknown as SupervisedInformer<any>;
    const group = new InformerGroup<any>(
      new Map([
        ['x', member('x')],
        ['y', member('y')],
      ]),
    );
    const first = group.list();
    expect(first.map((o) => o.metadata.name)).toEqual(['a', 'b']);
    expect(group.list()).toBe(first);
    lists.set('y', Object.freeze([{ metadata: { name: 'c' } }]));
    expect(group.list()).not.toBe(first);
    expect(group.list().map((o) => o.metadata.name)).toEqual(['a', 'c']);
  });
});

describe('SupervisedInformer: backoff', () => {
  it('is not reset by a LIST alone, only once a watch delivered an event', async () => {
    const { inf, watcher, lister, delays } = make();
    for (let i = 0; i < 10; i++) lister.ok(list(String(10 + i)));
    void inf.start();
    for (let n = 0; n < 4; n++) (await watcher.call(n)).fail(new TypeError('fetch failed'));
    await lister.waitCalls(5);
    expect(delays()).toEqual([2, 4, 8, 16]);
    const healthy = await watcher.call(4);
    await healthy.open();
    healthy.emit('ADDED', obj('a', '30'));
    healthy.fail(new TypeError('terminated'));
    await watcher.call(5);
    expect(delays()).toEqual([2, 4, 8, 16, 2]);
  });

  it('is reset by a watch that stayed up for healthyAfterMs', async () => {
    const { inf, watcher, lister, delays } = make({ healthyAfterMs: 20 });
    for (let i = 0; i < 10; i++) lister.ok(list(String(10 + i)));
    void inf.start();
    for (let n = 0; n < 3; n++) (await watcher.call(n)).fail(new TypeError('fetch failed'));
    const quiet = await watcher.call(3);
    await quiet.open();
    // The scenario itself: the watch stays up, silent, for longer than healthyAfterMs.
    await new Promise((r) => setTimeout(r, 60));
    quiet.fail(new TypeError('terminated'));
    await watcher.call(4);
    expect(delays()).toEqual([2, 4, 8, 2]);
  });
});

describe('SupervisedInformer: reconnects', () => {
  it('a normal end and the 30 s inactivity timeout re-watch from the last resourceVersion, quietly', async () => {
    const { inf, watcher, lister, seen, warnings } = make();
    lister.ok(list('5'));
    const started = inf.start();
    const w0 = await watcher.call(0);
    await w0.open();
    await started;
    w0.emit('ADDED', obj('x', '7'));
    w0.emit('BOOKMARK', { metadata: { resourceVersion: '9' } });
    w0.end();
    const w1 = await watcher.call(1);
    expect(w1.params.resourceVersion).toBe('9');
    expect(inf.isSynced).toBe(true);
    await w1.open();
    w1.fail(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    expect(inf.isSynced).toBe(true);
    const w2 = await watcher.call(2);
    expect(w2.params.resourceVersion).toBe('9');
    expect(lister.calls).toBe(1);
    expect(warnings()).toEqual([]);
    expect(seen.syncs).toEqual([true]);
    expect(seen.restarts).toBe(0);
  });

  it('a timeout before the watch opened is a failure', async () => {
    const { inf, watcher, lister, warnings } = make();
    lister.ok(list('5'));
    lister.ok(list('6'));
    void inf.start();
    (await watcher.call(0)).fail(
      new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
    );
    await lister.waitCalls(2);
    expect(warnings()).toHaveLength(1);
  });

  it('410 Gone (in the stream or as the HTTP status) relists without a warning', async () => {
    const { inf, watcher, lister, seen, warnings } = make();
    lister.ok(list('5', obj('a', '1'), obj('b', '1')));
    lister.ok(list('50', obj('b', '1'), obj('c', '2')));
    lister.ok(list('60', obj('b', '1'), obj('c', '3')));
    const started = inf.start();
    const w0 = await watcher.call(0);
    await w0.open();
    await started;
    w0.emit('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
    w0.end();
    const w1 = await watcher.call(1);
    expect(lister.calls).toBe(2);
    expect(w1.params.resourceVersion).toBe('50');
    expect(seen.deletes).toEqual(['a']);
    expect(seen.changes).toEqual(['a@1', 'b@1', 'c@2']);
    w1.fail(Object.assign(new Error('Gone'), { statusCode: 410 }));
    const w2 = await watcher.call(2);
    expect(w2.params.resourceVersion).toBe('60');
    expect(seen.changes).toEqual(['a@1', 'b@1', 'c@2', 'c@3']);
    expect(warnings()).toEqual([]);
  });

  it('stop() aborts the watch and unsyncs', async () => {
    const { inf, watcher, lister, seen } = make();
    lister.ok(list('5'));
    const started = inf.start();
    const w0 = await watcher.call(0);
    await w0.open();
    await started;
    await inf.stop();
    expect(w0.aborted).toBe(true);
    expect(inf.isSynced).toBe(false);
    expect(seen.syncs).toEqual([true, false]);
  });
});

describe('strip: what the cache keeps of an object', () => {
  it("drops managedFields and kubectl's last-applied copy, and keeps every other annotation", () => {
    const o: any = {
      metadata: {
        name: 'q',
        managedFields: [{ manager: 'kubectl' }],
        annotations: {
          'kubectl.kubernetes.io/last-applied-configuration': '{"spec":{}}',
          'warren.dev/reconcile': '1',
        },
      },
      spec: { vhost: 'v' },
    };
    strip(o);
    expect(o).toEqual({
      metadata: { name: 'q', annotations: { 'warren.dev/reconcile': '1' } },
      spec: { vhost: 'v' },
    });
    const only: any = {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
    };
    strip(only);
    expect(only).toEqual({ metadata: {} });
  });
});
