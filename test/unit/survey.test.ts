import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { queueKind } from '../../src/kinds/queue.ts';
import { Surveyor } from '../../src/kinds/survey.ts';
import { capabilities, type ManagementClient, type QueueInfo } from '../../src/rabbitmq/index.ts';
import type { SecretCache } from '../../src/runtime/secrets.ts';

// The survey's bookkeeping against an in-memory broker snapshot; the bulk reads themselves are
// exercised against real brokers in test/integration/drift.test.ts and outage.test.ts.

const queue = (name: string, ready = true) => ({
  apiVersion: 'warren.dev/v1alpha1',
  kind: 'RabbitQueue',
  metadata: { name, namespace: 'ns', uid: name, generation: 1 },
  spec: { brokerRef: { name: 'b' }, vhost: 'v', durable: true, autoDelete: false },
  status: {
    observedGeneration: 1,
    conditions: [
      { type: 'Ready', status: ready ? 'True' : 'False', reason: 'x', message: '', lastTransitionTime: '' },
    ],
  },
});

function fakeBroker(version = '3.10.8') {
  const state = {
    queues: new Map<string, QueueInfo>(),
    marker: undefined as string | undefined,
    requests: 0,
  };
  const q = (name: string, args: Record<string, unknown> = {}): QueueInfo => ({
    name,
    vhost: 'v',
    type: 'classic',
    durable: true,
    auto_delete: false,
    arguments: args,
  });
  const count = <T>(v: T) => (state.requests++, Promise.resolve(v));
  const client = {
    capabilities: () => Promise.resolve(capabilities(version)),
    listVhosts: () => count([{ name: 'v', description: '', tags: [], tracing: false }]),
    listVhostLimits: () => count([]),
    listUsers: () => count([]),
    listUserLimits: () => count([]),
    listPermissions: () => count([]),
    listTopicPermissions: () => count([]),
    listQueuesAtOnce: () => count([...state.queues.values()]),
    get: () => count(state.marker ? { value: state.marker } : undefined),
    put: (_p: string, body: { value: string }) => ((state.marker = body.value), count('created')),
  } as unknown as ManagementClient;
  return { state, client, q };
}

function setup(resources: ReturnType<typeof queue>[]) {
  const enqueued: string[] = [];
  const surveyor = new Surveyor({
    kinds: [
      {
        kind: queueKind,
        list: () => resources as never,
        enqueue: (k) => enqueued.push(k),
        brokerOf: (r) => `${r.metadata.namespace}/${r.spec.brokerRef.name}`,
      },
    ],
    secrets: {} as SecretCache,
    log: pino({ level: 'silent' }),
  });
  return { surveyor, enqueued };
}

describe('Surveyor', () => {
  it('queues exactly the drifted resources, counts repairs, and only bulk reads', async () => {
    const { state, client, q } = fakeBroker();
    const resources = [queue('a'), queue('b'), queue('c', false)];
    const { surveyor, enqueued } = setup(resources);
    state.queues.set('a', q('a'));
    state.queues.set('b', q('b'));
    state.queues.set('stray', q('stray'));

    const first = await surveyor.survey('ns/b', client);
    expect(first).toMatchObject({ managed: 3, drifted: 0, repaired: 0, unmanaged: 2, resetDetected: false });
    // Marker GET + PUT, six bulk lists, one queue list.
    expect(first.requests).toBe(9);
    expect(enqueued).toEqual([]);

    state.queues.delete('b'); // deleted behind warren's back; `c` is not Ready so it is not judged
    state.queues.set('a', q('a', { 'x-max-length': 5 })); // and `a` changed
    const second = await surveyor.survey('ns/b', client);
    expect(second).toMatchObject({ drifted: 2, repaired: 0, requests: 8 });
    expect(enqueued.sort()).toEqual(['ns/a', 'ns/b']);

    state.queues.set('a', q('a'));
    state.queues.set('b', q('b'));
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 0, repaired: 2 });
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 0, repaired: 2 });
  });

  it('does not take the x-queue-type 4.x stores for drift', async () => {
    const { state, client, q } = fakeBroker('4.2.0');
    const { surveyor } = setup([queue('a')]);
    state.queues.set('a', q('a', { 'x-queue-type': 'classic' }));
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 0 });
  });

  it('re-queues everything when the broker lost its marker (reset or replaced)', async () => {
    const { state, client, q } = fakeBroker();
    const { surveyor, enqueued } = setup([queue('a'), queue('c', false)]);
    state.queues.set('a', q('a'));
    await surveyor.survey('ns/b', client);
    state.marker = undefined;
    const after = await surveyor.survey('ns/b', client);
    expect(after.resetDetected).toBe(true);
    expect(enqueued.sort()).toEqual(['ns/a', 'ns/c']);
  });
});
