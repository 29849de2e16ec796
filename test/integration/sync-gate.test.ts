import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalizerOf } from '../../src/api/common.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { startKubeProxy, type KubeProxy } from '../support/kube-proxy.ts';
import { enc } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { eventually, isReadyNow } from '../support/wait.ts';

// Issue #25: one kind's cache that takes long to load (a tenant's 50,000 queues, a relist) holds
// only the kinds whose decisions read it. The RabbitQueue LIST is held at a proxy in front of the
// API server for as long as the test needs: vhosts converge meanwhile, queues wait, and a deletion
// (which reads every cache) waits until every cache is loaded.
let ctx: TestContext;
let op: RunningOperator;
let proxy: KubeProxy;
const b = { name: 'local' };
let vhost: string;

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  vhost = `${ctx.namespace}-v1`;
  await createBroker(ctx);
  await ctx.create('rabbitqueues', 'q-old', { brokerRef: b, vhost: ctx.vhost, name: 'q-old' });
  const cluster = ctx.kc.getCurrentCluster()!;
  proxy = await startKubeProxy(ctx.env.kubeconfigPath, cluster.server, cluster.caFile!, ctx.env.dir);
  proxy.hold(
    (method, url) =>
      method === 'GET' && url.pathname.endsWith('/rabbitqueues') && !url.searchParams.has('watch'),
  );
  op = await startOperator(ctx, { kubeconfigPath: proxy.kubeconfigPath, controllersAfter: 'brokers' });
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await op?.stop();
  await ctx?.broker.del(`/vhosts/${enc(vhost)}`);
  await ctx?.cleanup();
});

const brokerVhost = () => ctx.broker.get(`/vhosts/${enc(vhost)}`);

describe('a cache still loading', () => {
  it('holds only the kinds that read it: a vhost converges while the queue list is held', async () => {
    await ctx.create('rabbitvhosts', 'v1', { brokerRef: b, name: vhost });
    await eventually(() => ctx.get('rabbitvhosts', 'v1'), isReadyNow, { what: 'rabbitvhosts/v1 Ready' });
    expect((await brokerVhost()).status).toBe(200);
    // The queue list is still held: no queue has been reconciled.
    expect(proxy.held).toBeGreaterThan(0);
    expect((await ctx.get('rabbitqueues', 'q-old')).status).toBeUndefined();
    expect(op.operator.ready).toBe(false);
  });

  it('holds every deletion until every cache is loaded, then deletes', async () => {
    const before = await op.reconciles('rabbitvhost');
    await ctx.remove('rabbitvhosts', 'v1');
    // Two reconciles after the deletion: at least one of them saw it (and waited a second).
    await eventually(
      () => op.reconciles('rabbitvhost'),
      (n) => n >= before + 2,
      { what: 'the deletion reconciled' },
    );
    const held = await ctx.get('rabbitvhosts', 'v1');
    expect(held.metadata.deletionTimestamp).toBeDefined();
    expect(held.metadata.finalizers).toContain(finalizerOf('rabbitvhosts'));
    expect((await brokerVhost()).status).toBe(200);
    expect(proxy.held).toBeGreaterThan(0);

    proxy.release();
    await ctx.waitGone('rabbitvhosts', 'v1', 60_000);
    expect((await brokerVhost()).status).toBe(404);
    await eventually(() => ctx.get('rabbitqueues', 'q-old'), isReadyNow, {
      what: 'rabbitqueues/q-old Ready',
    });
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/q-old`)).status).toBe(200);
  });
});
