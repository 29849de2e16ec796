import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { finalizerOf, Reasons } from '../../src/api/common.ts';
import { DependencyIndex } from '../../src/kinds/dependencies.ts';
import { TopologyReconciler } from '../../src/kinds/topology.ts';
import { Blocked } from '../../src/kinds/types.ts';

// The reconciler's own status writes reach its cache later, through the watch. A resource written
// Ready=False and reconciled again before that event arrives must still be written Ready=True.

const PLURAL = 'rabbitthings';
// As a successful reconcile writes it: a second one finds nothing to change.
const inSync = {
  observedGeneration: 1,
  conditions: [
    {
      type: 'Ready',
      status: 'True',
      reason: Reasons.Reconciled,
      message: 'the broker matches the spec',
      observedGeneration: 1,
      lastTransitionTime: 't',
    },
  ],
};

function setup() {
  let failing = false;
  const patches: any[] = [];
  // The cache: it never sees the reconciler's writes unless the test delivers them.
  const cached: any = {
    metadata: {
      name: 'a',
      namespace: 'ns',
      generation: 1,
      resourceVersion: '10',
      finalizers: [finalizerOf(PLURAL)],
    },
    spec: { brokerRef: { name: 'b' } },
    status: structuredClone(inSync),
  };
  const kind: any = {
    def: { plural: PLURAL, kind: 'RabbitThing' },
    identity: (r: any) => ['thing', r.metadata.name],
    desired: () => ({}),
    apply: async () => {
      if (failing) throw new Blocked(Reasons.WaitingForDependency, "vhost 'v' does not exist");
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
    deps: new DependencyIndex(),
    recorder: { emit: async () => undefined },
    lookup: () => undefined,
    notify: () => undefined,
    enqueue: () => undefined,
    surveyed: () => true,
    resyncMs: 60_000,
  } as never);
  const rc = { log: pino({ level: 'silent' }), retries: 0 };
  const readyOf = (st: any) => st.conditions.find((c: any) => c.type === 'Ready').status;
  return {
    cached,
    patches,
    readyOf,
    fail: (f: boolean) => (failing = f),
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
