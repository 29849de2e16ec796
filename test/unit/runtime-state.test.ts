import { describe, expect, it } from 'vitest';
import { federationKind } from '../../src/kinds/federation.ts';
import { shovelKind } from '../../src/kinds/shovel.ts';
import type { KindContext } from '../../src/kinds/types.ts';
import type { FederationLink, ShovelStatus } from '../../src/rabbitmq/index.ts';

// Shovels and federation links have a life of their own: Ready says whether the broker reports
// them working, in the broker's words, without the credentials their URIs carry.

const PW = 'pw-9f3a';
const URI = `amqp://mover:${PW}@rabbit-a:5672/%2F`;
const uris = { uris: { srcUri: ['amqp://'], destUri: [URI], uri: [URI] }, secrets: [URI, PW] };
const ready = (status: 'True' | 'False', reason: string, message: string) => ({
  type: 'Ready',
  status,
  reason,
  message,
  lastTransitionTime: '',
});

function shovel(status: Record<string, unknown> = {}, deleteAfter?: string) {
  return {
    apiVersion: 'warren.dev/v1alpha1',
    kind: 'RabbitShovel',
    metadata: { name: 's', namespace: 'ns', uid: 'u', generation: 1 },
    spec: {
      brokerRef: { name: 'b' },
      deletionPolicy: 'Delete',
      vhost: '/',
      uriSecretRef: { name: 'sec' },
      source: { protocol: 'amqp091', queue: 'q', deleteAfter },
      destination: { protocol: 'amqp091', queue: 'd' },
    },
    status,
  } as any;
}

const ctxWith = (client: Record<string, unknown>) => ({ client }) as unknown as KindContext;
const shovelCtx = (rows: ShovelStatus[]) => ctxWith({ listShovelStatus: async () => rows });
const desired = () => ({ vhost: '/', name: 's', value: {}, uris, localVhosts: [] }) as any;

describe('a shovel', () => {
  it('is working only while the broker reports it running', async () => {
    const d = desired();
    expect(
      await shovelKind.check!(d, shovel(), shovelCtx([{ vhost: '/', name: 's', state: 'running' }])),
    ).toBeUndefined();
    expect(shovelKind.status!(d, shovel(), shovelCtx([]))).toEqual({ name: 's', state: 'running' });
  });

  it('is working under credit flow (4.x reports it as the state), not while blocked', async () => {
    const d = desired();
    expect(
      await shovelKind.check!(d, shovel(), shovelCtx([{ vhost: '/', name: 's', state: 'flow' }])),
    ).toBeUndefined();
    expect(d.state).toBe('running');
    const blocked = await shovelKind.check!(
      desired(),
      shovel(),
      shovelCtx([{ vhost: '/', name: 's', state: 'blocked' }]),
    );
    expect(blocked).toMatchObject({ reason: 'WaitingForDependency' });
  });

  it('is starting while the broker has no state for it yet, and is looked at again soon', async () => {
    const d = desired();
    const t = await shovelKind.check!(d, shovel(), shovelCtx([]));
    expect(t).toMatchObject({ reason: 'WaitingForDependency', soon: true });
    expect(t!.message).toMatch(/the shovel is starting/);
    expect(d.state).toBe('starting');
  });

  it('just declared, is looked at again for a moment before being called starting', async () => {
    const answers: ShovelStatus[][] = [
      [],
      [{ vhost: '/', name: 's', state: 'starting' }],
      [{ vhost: '/', name: 's', state: 'running' }],
    ];
    let asked = 0;
    const ctx = ctxWith({ listShovelStatus: async () => answers[Math.min(asked++, answers.length - 1)] });
    const d = { ...desired(), written: true };
    expect(await shovelKind.check!(d, shovel(), ctx)).toBeUndefined();
    expect(d.state).toBe('running');
    expect(asked).toBe(3);
    // Bounded: a shovel that keeps starting is reported so after a few looks.
    let looks = 0;
    const stuck = ctxWith({
      listShovelStatus: async () => (looks++, [{ vhost: '/', name: 's', state: 'starting' }]),
    });
    expect(await shovelKind.check!({ ...desired(), written: true }, shovel(), stuck)).toMatchObject({
      soon: true,
    });
    expect(looks).toBe(7);
  });

  it('reports a terminated shovel with the broker’s reason, redacted', async () => {
    const d = desired();
    const row = {
      vhost: '/',
      name: 's',
      state: 'terminated',
      reason: `{auth_failure, "ACCESS_REFUSED"} connecting to ${URI} with password ${PW}`,
    };
    const t = await shovelKind.check!(d, shovel(), shovelCtx([row]));
    expect(t?.reason).toBe('LinkDown');
    expect(t?.soon).toBeFalsy();
    expect(t!.message).toMatch(/^the shovel terminated: \{auth_failure, "ACCESS_REFUSED"\}/);
    expect(t!.message).not.toContain(PW);
  });

  it('cannot be judged without the shovel management plugin, and says so', async () => {
    const t = await shovelKind.check!(
      desired(),
      shovel(),
      ctxWith({ listShovelStatus: async () => undefined }),
    );
    expect(t).toMatchObject({ reason: 'Rejected' });
    expect(t!.message).toMatch(/enable the rabbitmq_shovel_management plugin/);
  });

  it('stays failed while the broker restarts it after a failure, instead of flapping', async () => {
    const failed =
      'the shovel terminated: failed to connect to destination (the broker restarts it after reconnectDelay)';
    const r = shovel({
      observedGeneration: 1,
      state: 'terminated',
      conditions: [ready('False', 'LinkDown', failed)],
    });
    const d = desired();
    const t = await shovelKind.check!(d, r, shovelCtx([{ vhost: '/', name: 's', state: 'starting' }]));
    expect(t).toMatchObject({ reason: 'LinkDown', message: failed });
    expect(d.state).toBe('terminated');
    // Once it runs, it is working.
    expect(
      await shovelKind.check!(desired(), r, shovelCtx([{ vhost: '/', name: 's', state: 'running' }])),
    ).toBeUndefined();
  });

  it('with deleteAfter, counts as completed once it removed itself, and is not declared again', async () => {
    const r = shovel(
      { observedGeneration: 1, state: 'running', conditions: [ready('True', 'Reconciled', '')] },
      'queue-length',
    );
    const puts: unknown[] = [];
    const ctx = ctxWith({
      getParameter: async () => undefined,
      putParameter: async (...a: unknown[]) => puts.push(a),
      listShovelStatus: async () => [],
    });
    const d = desired();
    expect(await shovelKind.apply(d, r, ctx)).toBe('unchanged');
    expect(puts).toEqual([]);
    expect(await shovelKind.check!(d, r, ctx)).toBeUndefined();
    expect(shovelKind.status!(d, r, ctx)).toEqual({ name: 's', state: 'completed' });
    // A new generation runs it again.
    const edited = { ...r, metadata: { ...r.metadata, generation: 2 } };
    expect(await shovelKind.apply(desired(), edited, ctx)).toBe('created');
    expect(puts).toHaveLength(1);
  });
});

describe('a federation upstream', () => {
  const link = (status: string, exchange: string, error?: string): FederationLink => ({
    vhost: '/',
    upstream: 'up',
    type: 'exchange',
    exchange,
    status,
    error,
  });
  const fedCtx = (links: FederationLink[]) => ctxWith({ listFederationLinks: async () => links });
  const d = () => ({ vhost: '/', name: 'up', value: {}, uris }) as any;
  const r = { metadata: { namespace: 'ns', name: 'up' }, spec: {} } as any;

  it('is working with no links at all (no policy uses it yet) and with running ones, counting them', async () => {
    const none = d();
    expect(await federationKind.check!(none, r, fedCtx([]))).toBeUndefined();
    expect(federationKind.status!(none, r, fedCtx([]))).toEqual({ name: 'up', links: 0, runningLinks: 0 });
    const two = d();
    expect(
      await federationKind.check!(two, r, fedCtx([link('running', 'a'), link('running', 'b')])),
    ).toBeUndefined();
    expect(federationKind.status!(two, r, fedCtx([]))).toMatchObject({ links: 2, runningLinks: 2 });
  });

  it('is not Ready while a link fails, with the broker’s error, redacted', async () => {
    const t = await federationKind.check!(
      d(),
      r,
      fedCtx([
        link('running', 'a'),
        link('error', 'b', `{auth_failure,"ACCESS_REFUSED - Login was refused"} ${URI}`),
      ]),
    );
    expect(t?.reason).toBe('LinkDown');
    expect(t!.message).toMatch(
      /^1 of 2 federation links failing; exchange 'b': \{auth_failure,"ACCESS_REFUSED - Login was refused"\}/,
    );
    expect(t!.message).not.toContain(PW);
  });

  it('cannot be judged without the federation management plugin, and says so', async () => {
    const none = d();
    const t = await federationKind.check!(none, r, ctxWith({ listFederationLinks: async () => undefined }));
    expect(t!.message).toMatch(/enable the rabbitmq_federation_management plugin/);
    expect(federationKind.status!(none, r, fedCtx([]))).toEqual({
      name: 'up',
      links: undefined,
      runningLinks: undefined,
    });
  });

  it('waits, soon, while links start', async () => {
    expect(await federationKind.check!(d(), r, fedCtx([link('starting', 'a')]))).toMatchObject({
      reason: 'WaitingForDependency',
      soon: true,
    });
  });
});
