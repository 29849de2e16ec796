import * as k8s from '@kubernetes/client-node';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext, type TestContext } from '../support/context.ts';
import { enc, mgmt, type Mgmt } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { startBroker, type Broker } from '../support/rabbitmq.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// This file stops, restarts and wipes a broker of its own, so the shared one is untouched.
let ctx: TestContext;
let op: RunningOperator;
let broker: Broker;
let admin: Mgmt;
const resources = [
  ['rabbitvhosts', 'vh'],
  ['rabbitusers', 'erin'],
  ['rabbitpermissions', 'erin-vh'],
  ['rabbitqueues', 'work'],
] as const;

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  broker = await startBroker(join(ctx.env.dir, `broker-${ctx.namespace}`));
  admin = mgmt(broker.managementUrl, broker.username, broker.password);
  await createBroker(ctx, 'own', broker.managementUrl, '5s', {
    username: broker.username,
    password: broker.password,
  });
  op = await startOperator(ctx, { resyncMs: 3_600_000 });
  const b = { name: 'own' };
  await ctx.create('rabbitvhosts', 'vh', { brokerRef: b, name: 'app' });
  await ctx.create('rabbitusers', 'erin', { brokerRef: b, username: 'erin', tags: ['management'] });
  await ctx.create('rabbitpermissions', 'erin-vh', {
    brokerRef: b,
    vhostRef: { name: 'vh' },
    userRef: { name: 'erin' },
    configure: '.*',
    write: '.*',
    read: '.*',
  });
  await ctx.create('rabbitqueues', 'work', { brokerRef: b, vhost: 'app', type: 'quorum' });
  await ctx.create('rabbitqueues', 'doomed', { brokerRef: b, vhost: 'app' });
  await eventually(() => ctx.get('rabbitqueues', 'doomed'), isReadyNow, { what: 'doomed Ready' });
  await allReady();
}, 120_000);
afterAll(async () => {
  await op?.stop();
  await broker?.stop();
  await ctx?.cleanup();
});

async function allReady() {
  for (const [plural, name] of resources) {
    await eventually(() => ctx.get(plural, name), isReadyNow, {
      timeoutMs: 30_000,
      what: `${plural}/${name} Ready`,
    });
  }
}

describe('broker outage', () => {
  it('turns every dependent Ready=False BrokerUnreachable within a survey interval, without a retry storm', async () => {
    await broker.stop();
    const t0 = Date.now();
    for (const [plural, name] of resources) {
      const o = await eventually(
        () => ctx.get(plural, name),
        (x) => readyOf(x)?.reason === 'BrokerUnreachable',
        {
          timeoutMs: 10_000,
          what: `${plural}/${name} BrokerUnreachable`,
        },
      );
      expect(readyOf(o).status).toBe('False');
    }
    console.log(
      `all dependents BrokerUnreachable ${Date.now() - t0} ms after the broker stopped (interval 5 s)`,
    );
    expect(readyOf(await ctx.get('rabbitbrokers', 'own')).reason).toBe('BrokerUnreachable');
    // Dependents fail fast and back off; only the broker's probe keeps going (every 5 s).
    const kinds = ['rabbitvhost', 'rabbituser', 'rabbitpermission', 'rabbitqueue'];
    const count = async () =>
      (await Promise.all(kinds.map((k) => op.reconciles(k)))).reduce((a, b) => a + b, 0);
    const before = await count();
    const probesBefore = await op.reconciles('rabbitbroker');
    await new Promise((r) => setTimeout(r, 8000));
    const reconciles = (await count()) - before;
    const probes = (await op.reconciles('rabbitbroker')) - probesBefore;
    console.log(
      `during 8 s of outage: ${reconciles} dependent reconciles (no broker requests), ${probes} broker probes`,
    );
    expect(reconciles).toBeLessThanOrEqual(4 * 5);
    expect(probes).toBeLessThanOrEqual(6);
  });

  it('holds a deletion during the outage instead of dropping it', async () => {
    await ctx.remove('rabbitqueues', 'doomed');
    const o = await eventually(
      () => ctx.get('rabbitqueues', 'doomed'),
      (x) => readyOf(x)?.reason === 'DeleteFailed',
      {
        what: 'DeleteFailed',
      },
    );
    expect(readyOf(o).message).toMatch(/unreachable/i);
    expect(o.metadata.finalizers).toContain('rabbitqueues.warren.dev/finalizer');
  });

  it('is Ready again within a survey interval of the broker coming back with its data', async () => {
    await broker.restart();
    const t0 = Date.now();
    await allReady();
    console.log(`all Ready ${Date.now() - t0} ms after the broker answered again`);
    expect((await admin.get('/queues/app/work')).status).toBe(200);
    // The deletion held during the outage went through.
    await ctx.waitGone('rabbitqueues', 'doomed', 30_000);
    expect((await admin.get('/queues/app/doomed')).status).toBe(404);
  });

  it('re-declares everything when the broker comes back wiped', async () => {
    await broker.restart({ wipe: true });
    admin = mgmt(broker.managementUrl, broker.username, broker.password);
    // No "vhost is gone" check here: warren may re-declare it before the test could look. The
    // BrokerReset event below proves the broker lost its data.
    const t0 = Date.now();
    await eventually(
      () => admin.get('/queues/app/work'),
      (r) => r.status === 200,
      { timeoutMs: 20_000, what: 'queue re-declared' },
    );
    await eventually(
      () => admin.get('/permissions/app/erin'),
      (r) => r.status === 200,
      { timeoutMs: 20_000, what: 'permission' },
    );
    console.log(`wiped broker re-declared ${Date.now() - t0} ms after it answered`);
    expect((await admin.get('/users/erin')).body.tags).toEqual(['management']);
    expect((await admin.get(`/queues/app/${enc('work')}`)).body.type).toBe('quorum');
    await allReady();
    const events = await ctx.kc
      .makeApiClient(k8s.EventsV1Api)
      .listNamespacedEvent({ namespace: ctx.namespace });
    expect(events.items.some((e) => e.reason === 'BrokerReset')).toBe(true);
  });
});
