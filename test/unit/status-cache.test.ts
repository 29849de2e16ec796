import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { finalizerOf, Reasons } from '../../src/api/common.ts';
import { DependencyIndex } from '../../src/kinds/dependencies.ts';
import { TopologyReconciler } from '../../src/kinds/topology.ts';
import { Blocked } from '../../src/kinds/types.ts';

// The reconciler's own status writes reach its cache later, through the watch. A resource written
// Ready=False and reconciled again before that event arrives must still be written Ready=True.

const PLURAL = 'rabbitthings';
// As a successful reconcile writes it: a second one finds nothing to change.
const condition = (type: string, status: string, message: string) => ({
  type,
  status,
  reason: Reasons.Reconciled,
  message,
  observedGeneration: 1,
  lastTransitionTime: 't',
});
const inSync = {
  observedGeneration: 1,
  conditions: [
    condition('Ready', 'True', 'the broker matches the spec'),
    condition('Reconciling', 'False', 'nothing pending'),
    condition('Stalled', 'False', 'not stalled'),
  ],
};

function setup(
  opts: { status?: unknown; holdMs?: number; dependOn?: () => string | undefined; onApply?: () => void } = {},
) {
  let failing: false | string = false;
  const deps = new DependencyIndex();
  const patches: any[] = [];
  const events: string[] = [];
  // The cache: it never sees the reconciler's writes unless the test delivers them.
  const cached: any = {
    metadata: {
      name: 'a',
      namespace: 'ns',
      generation: 1,
      resourceVersion: '10',
      finalizers: [finalizerOf(PLURAL)],
      uid: 'u1',
    },
    spec: { brokerRef: { name: 'b' } },
    status: 'status' in opts ? opts.status : structuredClone(inSync),
  };
  const kind: any = {
    def: { plural: PLURAL, kind: 'RabbitThing' },
    identity: (r: any) => ['thing', r.metadata.name],
    desired: (_r: unknown, ctx: any) => {
      const dep = opts.dependOn?.();
      if (dep) ctx.dependOn(dep);
      return {};
    },
    apply: async () => {
      opts.onApply?.();
      if (failing) throw new Blocked(failing as never, "vhost 'v' does not exist");
      return 'unchanged';
    },
    remove: async () => undefined,
  };
  const rec = new TopologyReconciler(kind, () => cached, {
    kube: { patchStatus: async (_ref: unknown, status: unknown) => patches.push(status) },
    brokers: {
      resolve: async () => ({
        key: 'ns/b',
        client: {},
        broker: { metadata: { namespace: 'ns', name: 'b' }, spec: {} },
      }),
    },
    deps,
    recorder: { emit: async (_r: unknown, _t: string, reason: string) => void events.push(reason) },
    lookup: () => undefined,
    notify: () => undefined,
    enqueue: () => undefined,
    surveyed: () => true,
    declaredNotYet: () => undefined,
    resyncMs: 60_000,
    newWaitHoldMs: opts.holdMs ?? 0,
  } as never);
  const rc = { log: pino({ level: 'silent' }), retries: 0 };
  const readyOf = (st: any) => st.conditions.find((c: any) => c.type === 'Ready').status;
  return {
    cached,
    deps,
    patches,
    readyOf,
    events,
    fail: (f: boolean | string) => (failing = f === true ? Reasons.WaitingForDependency : f),
    reconcile: () => rec.reconcile('ns/a', rc as never),
    /** The watch delivers the object as the API server now has it. */
    deliver: (rv: string) => {
      Object.assign(cached, {
        metadata: { ...cached.metadata, resourceVersion: rv },
        status: patches.at(-1),
      });
      rec.claim(cached);
    },
  };
}

describe('status writes the cache has not seen yet', () => {
  it('writes nothing for a resource whose status already says it all', async () => {
    const t = setup();
    await t.reconcile();
    expect(t.patches).toEqual([]);
  });

  it('writes Ready=True after a Ready=False the cache still lacks', async () => {
    const t = setup();
    t.fail(true);
    await t.reconcile();
    expect(t.patches.map(t.readyOf)).toEqual(['False']);
    t.fail(false);
    await t.reconcile(); // the cache still says Ready=True, as before the first write
    expect(t.patches.map(t.readyOf)).toEqual(['False', 'True']);
  });

  it('compares against the cache again once it holds the write, and writes nothing unchanged', async () => {
    const t = setup();
    t.fail(true);
    await t.reconcile();
    t.deliver('11');
    await t.reconcile(); // still failing, the cache has the Ready=False: nothing to write
    expect(t.patches.map(t.readyOf)).toEqual(['False']);
    t.fail(false);
    await t.reconcile();
    t.deliver('12');
    await t.reconcile();
    expect(t.patches.map(t.readyOf)).toEqual(['False', 'True']);
  });
});

describe('a new resource waiting for a dependency', () => {
  afterEach(() => vi.useRealTimers());
  const waiting = (t: ReturnType<typeof setup>) => t.patches.map((p) => p.conditions[0].reason);

  it('is written Ready=False, Reconciling=True at once, without an event while the hold lasts, and turning Ready is no event', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t = setup({ status: undefined, holdMs: 5000 });
    t.fail(true);
    expect(await t.reconcile()).toEqual({ backoff: true }); // retried as usual
    expect(waiting(t)).toEqual([Reasons.WaitingForDependency]);
    const reconciling = t.patches[0].conditions.find((c: any) => c.type === 'Reconciling');
    expect(reconciling).toMatchObject({ status: 'True', reason: Reasons.WaitingForDependency });
    expect(t.patches[0].observedGeneration).toBeUndefined();
    vi.advanceTimersByTime(4999);
    await t.reconcile();
    expect(t.patches).toHaveLength(1); // unchanged: nothing written
    t.fail(false);
    await t.reconcile();
    expect(t.patches.map(t.readyOf)).toEqual(['False', 'True']);
    expect(t.events).toEqual([]); // a new resource turning Ready is not an event
  });

  it('records the Warning event once the wait outlasts the hold, once', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t = setup({ status: undefined, holdMs: 5000 });
    t.fail(true);
    await t.reconcile();
    expect(t.events).toEqual([]);
    vi.advanceTimersByTime(5000);
    const outcome: any = await t.reconcile();
    expect(waiting(t)).toEqual([Reasons.WaitingForDependency]); // the status was already there
    expect(t.events).toEqual([Reasons.WaitingForDependency]);
    expect(outcome).toEqual({ backoff: true });
    await t.reconcile();
    expect(t.events).toEqual([Reasons.WaitingForDependency]);
    t.fail(false);
    await t.reconcile();
    expect(t.events).toEqual([Reasons.WaitingForDependency, Reasons.Reconciled]);
  });

  it('starts a new hold for a resource re-created under the same name', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t = setup({ status: undefined, holdMs: 5000 });
    t.fail(true);
    await t.reconcile();
    vi.advanceTimersByTime(5000);
    t.cached.metadata.uid = 'u2';
    t.cached.metadata.resourceVersion = '11'; // the new object: no status
    t.deliver('11');
    t.cached.status = undefined;
    await t.reconcile();
    expect(t.patches).toHaveLength(2);
    vi.advanceTimersByTime(4999);
    await t.reconcile();
    expect(t.events).toEqual([]);
  });

  it('holds nothing for a resource that has a status, or that fails for another reason', async () => {
    const old = setup({ holdMs: 5000 });
    old.fail(true);
    await old.reconcile();
    expect(waiting(old)).toEqual([Reasons.WaitingForDependency]);
    const refused = setup({ status: undefined, holdMs: 5000 });
    refused.fail(Reasons.NotAllowed);
    await refused.reconcile();
    expect(waiting(refused)).toEqual([Reasons.NotAllowed]);
  });
});

describe('a change to a dependency while the reconcile that reads it runs', () => {
  // The cache's event for a RabbitUser turning Ready can land after its permission's reconcile
  // read the user and before that reconcile ends; the event looks up who depends on the user then.
  it('finds the dependent already indexed, so it is woken and not left to a grown backoff', async () => {
    const dep = 'res:rabbitusers/ns/jack';
    let during: string[] = [];
    const t = setup({ dependOn: () => dep, onApply: () => (during = t.deps.dependents(dep)) });
    await t.reconcile();
    expect(during).toEqual([`${PLURAL}|ns/a`]);
    expect(t.deps.dependents(dep)).toEqual([`${PLURAL}|ns/a`]); // and kept once it ended
  });

  it('drops what the reconcile no longer depends on once it ends', async () => {
    let dep = 'res:rabbitusers/ns/old';
    const t = setup({ dependOn: () => dep });
    await t.reconcile();
    expect(t.deps.dependents('res:rabbitusers/ns/old')).toEqual([`${PLURAL}|ns/a`]);
    dep = 'res:rabbitusers/ns/new';
    await t.reconcile();
    expect(t.deps.dependents('res:rabbitusers/ns/old')).toEqual([]);
    expect(t.deps.dependents('res:rabbitusers/ns/new')).toEqual([`${PLURAL}|ns/a`]);
  });
});
