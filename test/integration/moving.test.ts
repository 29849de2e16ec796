import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain, publish } from '../support/amqp.ts';
import { testContext, type TestContext } from '../support/context.ts';
import type { EnvironmentInfo } from '../support/environment.ts';
import { enc, mgmt, type Mgmt } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { startBroker, type Broker } from '../support/rabbitmq.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// Shovels and federation between two real brokers: A is the run's shared broker (this file's
// vhost), B a broker of this file's own, where the shovels and upstreams are declared.
let ctx: TestContext;
let op: RunningOperator;
let b: Broker;
let bAdmin: Mgmt;
let envB: EnvironmentInfo;
// 4.3 reports a shovel that cannot connect as terminated, with a reason; 3.10 and 4.0 keep it
// 'starting' and give no reason (their log does).
let reportsReasons = false;
let v4 = false;

// Distinctive secrets, so that finding one anywhere is a leak and not a coincidence.
const MOVER_PW = `mover-pw-${randomBytes(8).toString('hex')}`;
const WRONG_PW = `wrong-pw-${randomBytes(8).toString('hex')}`;
let mover: string;

const B = { name: 'b' };
const VH = 'moving';
const within = { timeoutMs: 30_000 };

/** An AMQP URI to broker A, this file's vhost, as the user `mover`. */
const uriA = (password = MOVER_PW) =>
  `amqp://${enc(mover)}:${enc(password)}@${new URL(ctx.env.amqpUrl).host}/${enc(ctx.vhost)}`;

const get = (plural: string, name: string) => () => ctx.get(plural, name);
const cond = (o: any, type: string) => o?.status?.conditions?.find((c: any) => c.type === type);
const ready = (plural: string, name: string, timeoutMs = 30_000) =>
  eventually(get(plural, name), isReadyNow, { timeoutMs, what: `${plural}/${name} Ready` });
const reason = (plural: string, name: string, want: string) =>
  eventually(get(plural, name), (o) => readyOf(o)?.reason === want, {
    ...within,
    what: `${plural}/${name} ${want}`,
  });
const secret = (name: string, stringData: Record<string, string>) =>
  ctx.core.createNamespacedSecret({ namespace: ctx.namespace, body: { metadata: { name }, stringData } });
const putSecret = (name: string, stringData: Record<string, string>) =>
  ctx.core.replaceNamespacedSecret({
    name,
    namespace: ctx.namespace,
    body: { metadata: { name }, stringData },
  });

/** Drains a queue until `n` messages arrived (they cross brokers asynchronously). */
async function receive(env: EnvironmentInfo, vhost: string, queue: string, n: number): Promise<string[]> {
  const got: string[] = [];
  await eventually(
    async () => {
      got.push(...(await drain(env, vhost, queue)));
      return got.length;
    },
    (len) => len >= n,
    { ...within, what: `${n} messages in ${queue}` },
  );
  return got;
}

/**
 * Exchange fed.<x> on broker A (this file's vhost), and on broker B exchange fed.<x> with queue
 * fed.<x>q bound to it by routing key k: what a federation policy on B then connects.
 */
async function federatedExchange(x: string): Promise<void> {
  await ctx.create('rabbitexchanges', `upstream-${x}`, {
    brokerRef: { name: 'local' },
    vhost: ctx.vhost,
    name: `fed.${x}`,
  });
  await ctx.create('rabbitexchanges', `fed-${x}`, { brokerRef: B, vhost: VH, name: `fed.${x}` });
  await ctx.create('rabbitqueues', `fed-${x}q`, { brokerRef: B, vhost: VH, name: `fed.${x}q` });
  await ctx.create('rabbitbindings', `fed-${x}b`, {
    brokerRef: B,
    vhost: VH,
    source: `fed.${x}`,
    destination: `fed.${x}q`,
    routingKey: 'k',
  });
}

/** Resolves after the RabbitBroker `b` reported `count` more surveys. */
async function surveys(count: number) {
  let seen = 0;
  let last = (await ctx.get('rabbitbrokers', 'b')).status?.lastSurveyTime;
  await eventually(
    async () => {
      const now = (await ctx.get('rabbitbrokers', 'b')).status?.lastSurveyTime;
      if (now !== last) [seen, last] = [seen + 1, now];
      return seen;
    },
    (n) => n >= count,
    { timeoutMs: 30_000, what: `${count} surveys of broker b` },
  );
}

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  mover = `mover-${ctx.namespace}`;
  const started = await Promise.all([
    startBroker(join(ctx.env.dir, `broker-${ctx.namespace}`)),
    createBroker(ctx),
    ctx.broker.put(`/users/${enc(mover)}`, { password: MOVER_PW, tags: '' }),
  ]);
  b = started[0];
  await ctx.broker.put(`/permissions/${enc(ctx.vhost)}/${enc(mover)}`, {
    configure: '.*',
    write: '.*',
    read: '.*',
  });
  const [major, minor] = b.version.split('.').map(Number);
  reportsReasons = major! > 4 || (major === 4 && minor! >= 3);
  v4 = major! >= 4;
  bAdmin = mgmt(b.managementUrl, b.username, b.password);
  envB = { ...ctx.env, amqpUrl: b.amqpUrl, adminUser: b.username, adminPassword: b.password };
  await secret('b-admin', { username: b.username, password: b.password });
  await ctx.create('rabbitbrokers', 'b', {
    endpoint: b.managementUrl,
    credentialsSecretRef: { name: 'b-admin' },
    surveyInterval: '5s',
  });
  // An hour's resync: what changes later is found by the survey and the watches.
  op = await startOperator(ctx, { resyncMs: 3_600_000 });
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await b?.stop();
  await ctx?.broker.del(`/users/${enc(mover)}`);
  await ctx?.cleanup();
});

describe('RabbitShovel', () => {
  it('waits for its vhost, then moves a message published on broker A to broker B', async () => {
    await secret('a-to-b', { srcUri: uriA(), destUri: `amqp:///${VH}` });
    await ctx.create('rabbitshovels', 'a-to-b', {
      brokerRef: B,
      vhost: VH,
      uriSecretRef: { name: 'a-to-b' },
      source: { queue: 'outbox' },
      destination: { queue: 'inbox' },
    });
    const waiting = await reason('rabbitshovels', 'a-to-b', 'WaitingForDependency');
    expect(readyOf(waiting).message).toContain(`'${VH}'`);
    await ctx.create('rabbitvhosts', 'moving', { brokerRef: B, name: VH });
    const s = await ready('rabbitshovels', 'a-to-b');
    expect(s.status).toMatchObject({ name: 'a-to-b', state: 'running' });
    expect((await bAdmin.get(`/shovels/${VH}`)).body.find((x: any) => x.name === 'a-to-b').state).toBe(
      'running',
    );

    await publish(ctx.env, ctx.vhost, '', 'outbox', ['hello from A']);
    expect(await receive(envB, VH, 'inbox', 1)).toEqual(['hello from A']);
  });

  it('is not Ready while its destination refuses the login, with the broker’s reason, and Ready once the Secret is fixed', async () => {
    await secret('b-to-a', { srcUri: `amqp:///${VH}`, destUri: uriA(WRONG_PW) });
    await ctx.create('rabbitshovels', 'b-to-a', {
      brokerRef: B,
      vhost: VH,
      uriSecretRef: { name: 'b-to-a' },
      source: { queue: 'outgoing' },
      destination: { queue: 'returns' },
      reconnectDelay: 1,
    });
    const bad = await eventually(
      get('rabbitshovels', 'b-to-a'),
      (o) =>
        readyOf(o)?.status === 'False' &&
        o.status?.state === (reportsReasons ? 'terminated' : 'starting') &&
        o.status?.observedGeneration === o.metadata.generation,
      { ...within, what: 'b-to-a declared and not running' },
    );
    if (reportsReasons) {
      // Declared, not running: LinkDown in the broker's words, in progress (it may recover), not stalled.
      expect(readyOf(bad).reason).toBe('LinkDown');
      expect(readyOf(bad).message).toMatch(/terminated: .*failed to connect to destination/);
      console.log(`shovel b-to-a: ${readyOf(bad).reason}: ${readyOf(bad).message}`);
      expect(cond(bad, 'Reconciling')).toMatchObject({ status: 'True', reason: 'LinkDown' });
      expect(cond(bad, 'Stalled')).toMatchObject({ status: 'False' });
    } else {
      expect(readyOf(bad).reason).toBe('WaitingForDependency');
      expect(readyOf(bad).message).toMatch(/shovel is starting/);
    }
    // Still not Ready a few surveys later: the survey does not take it for working.
    await surveys(2);
    expect(readyOf(await ctx.get('rabbitshovels', 'b-to-a')).status).toBe('False');

    await putSecret('b-to-a', { srcUri: `amqp:///${VH}`, destUri: uriA() });
    const good = await ready('rabbitshovels', 'b-to-a');
    expect(good.status.state).toBe('running');
    await publish(envB, VH, '', 'outgoing', ['hello from B']);
    expect(await receive(ctx.env, ctx.vhost, 'returns', 1)).toEqual(['hello from B']);
  });

  it('declares an AMQP 1.0 destination; on 4.x, where AMQP 1.0 is built in, moves a message through it', async () => {
    const amqp10 = v4 ? `amqp://${enc(b.username)}:${enc(b.password)}@${new URL(b.amqpUrl).host}` : uriA();
    await secret('to-amqp10', { srcUri: 'amqp://', destUri: amqp10 });
    if (v4) expect(await bAdmin.put('/queues/%2F/amqp10-inbox', { durable: true })).toBe(201);
    await ctx.create('rabbitshovels', 'amqp10', {
      brokerRef: B,
      vhost: VH,
      uriSecretRef: { name: 'to-amqp10' },
      source: { queue: 'to-amqp10' },
      destination: {
        protocol: 'amqp10',
        address: '/queues/amqp10-inbox',
        applicationProperties: { origin: 'warren-test' },
      },
    });
    await eventually(
      get('rabbitshovels', 'amqp10'),
      (o) => o.status?.observedGeneration === o.metadata.generation,
      { ...within, what: 'amqp10 declared' },
    );
    expect((await bAdmin.get(`/parameters/shovel/${VH}/amqp10`)).body.value).toMatchObject({
      'src-protocol': 'amqp091',
      'src-queue': 'to-amqp10',
      'dest-protocol': 'amqp10',
      'dest-address': '/queues/amqp10-inbox',
      'dest-application-properties': { origin: 'warren-test' },
    });
    // 3.10 speaks AMQP 1.0 only with a plugin the test brokers do not run: declared, not running.
    if (!v4) return;
    await ready('rabbitshovels', 'amqp10');
    await publish(envB, '/', '', 'to-amqp10', ['over AMQP 1.0']);
    expect(await receive(envB, '/', 'amqp10-inbox', 1)).toEqual(['over AMQP 1.0']);
  });

  it('with deleteAfter, moves what the queue held, removes itself, and is not declared again', async () => {
    await ctx.create('rabbitqueues', 'batch', { brokerRef: B, vhost: VH });
    await ready('rabbitqueues', 'batch');
    await publish(envB, VH, '', 'batch', ['1', '2', '3']);
    await secret('local', { srcUri: `amqp:///${VH}`, destUri: `amqp:///${VH}` });
    await ctx.create('rabbitshovels', 'once', {
      brokerRef: B,
      vhost: VH,
      uriSecretRef: { name: 'local' },
      source: { queue: 'batch', deleteAfter: 'queue-length' },
      destination: { queue: 'batch-done' },
    });
    const done = await eventually(
      get('rabbitshovels', 'once'),
      (o) => isReadyNow(o) && o.status?.state === 'completed',
      { ...within, what: 'once completed' },
    );
    expect(readyOf(done).reason).toBe('Reconciled');
    expect(await receive(envB, VH, 'batch-done', 3)).toEqual(['1', '2', '3']);
    await surveys(2);
    expect((await bAdmin.get(`/parameters/shovel/${VH}/once`)).status).toBe(404);
    expect((await ctx.get('rabbitshovels', 'once')).status.state).toBe('completed');
  });

  it('refuses impossible specs at the API server', async () => {
    const base = { brokerRef: B, vhost: VH, uriSecretRef: { name: 'local' }, destination: { queue: 'x' } };
    for (const source of [
      { queue: 'a', exchange: 'b' },
      {},
      { queue: 'a', routingKey: 'k' },
      { protocol: 'amqp10', queue: 'a' },
      { queue: 'a', deleteAfter: 'sometimes' },
      { queue: 'a', deleteAfter: 0 },
    ]) {
      const err = await ctx.create('rabbitshovels', 'impossible', { ...base, source }).catch((e) => e);
      expect((err as k8s.ApiException<unknown>).code, JSON.stringify(source)).toBe(422);
    }
    const err = await ctx
      .create('rabbitshovels', 'impossible', {
        ...base,
        source: { queue: 'a' },
        destination: { queue: 'x', exchange: 'y' },
      })
      .catch((e) => e);
    expect((err as k8s.ApiException<unknown>).code).toBe(422);
    await ctx.create('rabbitshovels', 'counted', { ...base, source: { queue: 'a', deleteAfter: 5 } });
    await ctx.remove('rabbitshovels', 'counted');
  });
});

describe('RabbitFederation', () => {
  it('a federated exchange on broker B receives what is published to the upstream exchange on broker A', async () => {
    await ctx.create('rabbitexchanges', 'upstream-x', {
      brokerRef: { name: 'local' },
      vhost: ctx.vhost,
      name: 'fed.x',
      type: 'topic',
    });
    await secret('a-uri', { uri: uriA() });
    await ctx.create('rabbitexchanges', 'fed-x', { brokerRef: B, vhost: VH, name: 'fed.x', type: 'topic' });
    await ctx.create('rabbitqueues', 'fed-q', { brokerRef: B, vhost: VH, name: 'fed.q' });
    await ctx.create('rabbitbindings', 'fed-b', {
      brokerRef: B,
      vhost: VH,
      source: 'fed.x',
      destination: 'fed.q',
      routingKey: '#',
    });
    await ctx.create('rabbitfederations', 'from-a', {
      brokerRef: B,
      vhost: VH,
      uriSecretRef: { name: 'a-uri' },
      expires: 600_000,
      ackMode: 'on-confirm',
    });
    await ctx.create('rabbitpolicies', 'federate-x', {
      brokerRef: B,
      vhost: VH,
      pattern: '^fed\\.x$',
      applyTo: 'exchanges',
      definition: { 'federation-upstream': 'from-a' },
    });
    for (const [plural, name] of [
      ['rabbitexchanges', 'upstream-x'],
      ['rabbitbindings', 'fed-b'],
      ['rabbitpolicies', 'federate-x'],
    ])
      await ready(plural!, name!);
    // The link is the broker's; its state reaches status through the survey.
    const f = await eventually(
      get('rabbitfederations', 'from-a'),
      (o) => isReadyNow(o) && o.status?.runningLinks === 1,
      { ...within, what: 'from-a with one running link' },
    );
    expect(f.status).toMatchObject({ name: 'from-a', links: 1 });
    expect((await bAdmin.get(`/parameters/federation-upstream/${VH}/from-a`)).body.value).toMatchObject({
      expires: 600_000,
      'ack-mode': 'on-confirm',
    });

    await publish(ctx.env, ctx.vhost, 'fed.x', 'order.eu', ['federated']);
    expect(await receive(envB, VH, 'fed.q', 1)).toEqual(['federated']);
  });

  it('is not Ready while a link fails to log in, with the broker’s reason', async () => {
    await secret('a-uri-wrong', { uri: uriA(WRONG_PW) });
    await ctx.create('rabbitfederations', 'from-a-wrong', {
      brokerRef: B,
      vhost: VH,
      uriSecretRef: { name: 'a-uri-wrong' },
    });
    await ctx.create('rabbitexchanges', 'fed-z', { brokerRef: B, vhost: VH, name: 'fed.z', type: 'topic' });
    await ctx.create('rabbitpolicies', 'federate-z', {
      brokerRef: B,
      vhost: VH,
      pattern: '^fed\\.z$',
      applyTo: 'exchanges',
      definition: { 'federation-upstream': 'from-a-wrong' },
    });
    const bad = await reason('rabbitfederations', 'from-a-wrong', 'LinkDown');
    expect(readyOf(bad).message).toMatch(
      /1 of 1 federation links failing; exchange 'fed.z': .*ACCESS_REFUSED/,
    );
    console.log(`federation from-a-wrong: ${readyOf(bad).reason}: ${readyOf(bad).message}`);
    expect(readyOf(bad).message).not.toContain(WRONG_PW);
    expect(cond(bad, 'Reconciling')).toMatchObject({ status: 'True', reason: 'LinkDown' });
    expect(cond(bad, 'Stalled')).toMatchObject({ status: 'False' });
    // Declared as specified: observedGeneration is this generation's, the link is what is down.
    expect(bad.status.observedGeneration).toBe(bad.metadata.generation);
    await ctx.remove('rabbitpolicies', 'federate-z');
  });

  it('an upstream whose host refuses connections (a closed loopback port) says LinkDown with the broker’s words, not Rejected', async () => {
    const closed = await freePort();
    await secret('a-uri-closed', {
      uri: `amqp://${enc(mover)}:${enc(MOVER_PW)}@127.0.0.1:${closed}/${enc(ctx.vhost)}`,
    });
    await ctx.create('rabbitfederations', 'from-nowhere', {
      brokerRef: B,
      vhost: VH,
      uriSecretRef: { name: 'a-uri-closed' },
      reconnectDelay: 1,
    });
    await ctx.create('rabbitexchanges', 'fed-n', { brokerRef: B, vhost: VH, name: 'fed.n', type: 'topic' });
    await ctx.create('rabbitpolicies', 'federate-n', {
      brokerRef: B,
      vhost: VH,
      pattern: '^fed\\.n$',
      applyTo: 'exchanges',
      definition: { 'federation-upstream': 'from-nowhere' },
    });
    await ready('rabbitpolicies', 'federate-n');
    const down = await reason('rabbitfederations', 'from-nowhere', 'LinkDown');
    const c = readyOf(down);
    console.log(`federation from-nowhere: ${c.reason}: ${c.message}`);
    expect(c.status).toBe('False');
    // The broker's own words for the refused connection, and never the URI's password.
    expect(c.message).toMatch(/federation links failing; exchange 'fed.n': .*econnrefused/i);
    expect(c.message).not.toContain(MOVER_PW);
    expect(cond(down, 'Reconciling')).toMatchObject({ status: 'True', reason: 'LinkDown' });
    expect(cond(down, 'Stalled')).toMatchObject({ status: 'False' });
    expect(down.status.observedGeneration).toBe(down.metadata.generation);
    // What the broker itself says of the link.
    const links = (await bAdmin.get(`/federation-links/${VH}`)).body.filter(
      (l: any) => l.upstream === 'from-nowhere',
    );
    expect(links.map((l: any) => l.status)).toEqual(['error']);
    // Still LinkDown a few surveys later (the survey does not take it for working).
    await surveys(2);
    expect(readyOf(await ctx.get('rabbitfederations', 'from-nowhere')).reason).toBe('LinkDown');
    await ctx.remove('rabbitpolicies', 'federate-n');
  });

  it('an upstream set waits for its upstreams, then federates from them', async () => {
    await ctx.create('rabbitfederationupstreamsets', 'from-a-set', {
      brokerRef: B,
      vhost: VH,
      upstreams: [{ name: 'from-a2' }],
    });
    const waiting = await reason('rabbitfederationupstreamsets', 'from-a-set', 'WaitingForDependency');
    expect(readyOf(waiting).message).toContain('from-a2');
    await ctx.create('rabbitfederations', 'from-a2', {
      brokerRef: B,
      vhost: VH,
      uriSecretRef: { name: 'a-uri' },
    });
    const set = await ready('rabbitfederationupstreamsets', 'from-a-set');
    expect(set.status.upstreams).toEqual(['from-a2']);
    expect((await bAdmin.get(`/parameters/federation-upstream-set/${VH}/from-a-set`)).body.value).toEqual([
      { upstream: 'from-a2' },
    ]);

    await federatedExchange('y');
    await ctx.create('rabbitpolicies', 'federate-y', {
      brokerRef: B,
      vhost: VH,
      pattern: '^fed\\.y$',
      applyTo: 'exchanges',
      definition: { 'federation-upstream-set': 'from-a-set' },
    });
    await ready('rabbitexchanges', 'upstream-y');
    await ready('rabbitbindings', 'fed-yb');
    await eventually(
      get('rabbitfederations', 'from-a2'),
      (o) => isReadyNow(o) && o.status?.runningLinks === 1,
      {
        ...within,
        what: 'from-a2 with one running link',
      },
    );
    await publish(ctx.env, ctx.vhost, 'fed.y', 'k', ['through the set']);
    expect(await receive(envB, VH, 'fed.yq', 1)).toEqual(['through the set']);
  });

  it('with resourceCleanupMode never, a stopped link leaves its upstream queue, and the next link delivers what it held', async () => {
    await federatedExchange('w');
    await ctx.create('rabbitfederations', 'keep-a', {
      brokerRef: B,
      vhost: VH,
      uriSecretRef: { name: 'a-uri' },
      resourceCleanupMode: 'never',
      channelUseMode: 'single',
      consumerTag: 'keep-a-links',
      bindNowait: false,
    });
    const policy = {
      brokerRef: B,
      vhost: VH,
      pattern: '^fed\\.w$',
      applyTo: 'exchanges',
      definition: { 'federation-upstream': 'keep-a' },
    };
    await ctx.create('rabbitpolicies', 'federate-w', policy);
    await ready('rabbitexchanges', 'upstream-w');
    await ready('rabbitbindings', 'fed-wb');
    await eventually(
      get('rabbitfederations', 'keep-a'),
      (o) => isReadyNow(o) && o.status?.runningLinks === 1,
      {
        ...within,
        what: 'keep-a with one running link',
      },
    );
    expect((await bAdmin.get(`/parameters/federation-upstream/${VH}/keep-a`)).body.value).toMatchObject({
      'resource-cleanup-mode': 'never',
      'channel-use-mode': 'single',
      'consumer-tag': 'keep-a-links',
      'bind-nowait': false,
    });
    await publish(ctx.env, ctx.vhost, 'fed.w', 'k', ['while linked']);
    expect(await receive(envB, VH, 'fed.wq', 1)).toEqual(['while linked']);

    // The link stops with its policy. The default mode would delete its queue on broker A, and a
    // message published there meanwhile would go nowhere; never keeps both.
    await ctx.remove('rabbitpolicies', 'federate-w');
    await ctx.waitGone('rabbitpolicies', 'federate-w');
    const links = async () =>
      ((await bAdmin.get(`/federation-links/${enc(VH)}`)).body as Array<{ upstream: string }>).filter(
        (l) => l.upstream === 'keep-a',
      ).length;
    await eventually(links, (n) => n === 0, { ...within, what: 'the link of keep-a stopped' });
    const upstreamQueues = async () =>
      ((await ctx.broker.get(`/queues/${enc(ctx.vhost)}?columns=name`)).body as Array<{ name: string }>)
        .map((q) => q.name)
        .filter((n) => n.startsWith('federation: fed.w '));
    expect(await upstreamQueues()).toHaveLength(1);
    await publish(ctx.env, ctx.vhost, 'fed.w', 'k', ['while stopped']);

    await ctx.create('rabbitpolicies', 'federate-w', policy);
    expect(await receive(envB, VH, 'fed.wq', 1)).toEqual(['while stopped']);
    await ctx.remove('rabbitpolicies', 'federate-w');
  });

  it('refuses an upstream set named all', async () => {
    const err = await ctx
      .create('rabbitfederationupstreamsets', 'named-all', {
        brokerRef: B,
        vhost: VH,
        name: 'all',
        upstreams: [{ name: 'from-a' }],
      })
      .catch((e) => e);
    expect((err as k8s.ApiException<unknown>).code).toBe(422);
  });
});

describe('drift', () => {
  it('puts back a shovel, an upstream and a set changed behind warren’s back; the survey costs a fixed number of requests', async () => {
    const upstream = `/parameters/federation-upstream/${VH}/from-a`;
    const before = (await bAdmin.get(upstream)).body.value;
    expect(await bAdmin.del(`/parameters/shovel/${VH}/a-to-b`)).toBe(204);
    expect(await bAdmin.put(upstream, { value: { ...before, expires: 1000 } })).toBe(204);
    expect(await bAdmin.del(`/parameters/federation-upstream-set/${VH}/from-a-set`)).toBe(204);
    await eventually(
      () => bAdmin.get(`/parameters/shovel/${VH}/a-to-b`),
      (r) => r.status === 200,
      { ...within, what: 'shovel re-declared' },
    );
    await eventually(
      () => bAdmin.get(upstream),
      (r) => r.body?.value?.expires === 600_000,
      { ...within, what: 'upstream restored' },
    );
    await eventually(
      () => bAdmin.get(`/parameters/federation-upstream-set/${VH}/from-a-set`),
      (r) => r.status === 200,
      { ...within, what: 'upstream set re-declared' },
    );
    await ready('rabbitshovels', 'a-to-b');
    const broker = await eventually(
      get('rabbitbrokers', 'b'),
      (o) => o.status?.survey?.drifted === 0 && o.status?.survey?.managed >= 4,
      within,
    );
    // One marker read; eleven broker-wide lists (vhosts, users, their limits, permissions, topic
    // permissions, policies, operator policies, runtime parameters, shovel states, federation
    // links); queues, exchanges and bindings of the one vhost holding managed objects.
    expect(broker.status.survey.requests).toBe(15);
    console.log(`survey of broker b with shovels present: ${broker.status.survey.requests} requests`);
  });
});

describe('deletion and credentials', () => {
  it('deletes a shovel and an upstream with their resources, and keeps a retained one', async () => {
    await ctx.patchSpec('rabbitfederations', 'from-a-wrong', { deletionPolicy: 'Retain' });
    for (const [plural, name] of [
      ['rabbitshovels', 'a-to-b'],
      ['rabbitfederationupstreamsets', 'from-a-set'],
      ['rabbitfederations', 'from-a-wrong'],
    ])
      await ctx.remove(plural!, name!);
    for (const [plural, name] of [
      ['rabbitshovels', 'a-to-b'],
      ['rabbitfederationupstreamsets', 'from-a-set'],
      ['rabbitfederations', 'from-a-wrong'],
    ])
      await ctx.waitGone(plural!, name!);
    expect((await bAdmin.get(`/parameters/shovel/${VH}/a-to-b`)).status).toBe(404);
    expect((await bAdmin.get(`/parameters/federation-upstream-set/${VH}/from-a-set`)).status).toBe(404);
    expect((await bAdmin.get(`/parameters/federation-upstream/${VH}/from-a-wrong`)).status).toBe(200);
  });

  it('never shows a URI’s password in status, events or the operator’s log', async () => {
    const all = await Promise.all(
      ['rabbitshovels', 'rabbitfederations', 'rabbitfederationupstreamsets'].map((plural) =>
        ctx.custom.listNamespacedCustomObject({
          group: 'warren.dev',
          version: 'v1alpha1',
          namespace: ctx.namespace,
          plural,
        }),
      ),
    );
    const events = await ctx.kc
      .makeApiClient(k8s.EventsV1Api)
      .listNamespacedEvent({ namespace: ctx.namespace });
    const log = readFileSync(join(ctx.env.dir, `operator-${ctx.namespace}.log`), 'utf8');
    expect(events.items.length).toBeGreaterThan(0);
    expect(log.length).toBeGreaterThan(0);
    for (const text of [JSON.stringify(all), JSON.stringify(events.items), log]) {
      for (const pw of [MOVER_PW, WRONG_PW, b.password, ctx.env.adminPassword])
        expect(text).not.toContain(pw);
      expect(text).not.toContain(uriA());
    }
  });
});
