import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPOLOGY_KINDS } from '../../src/kinds/index.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { kubeconfigThrough, startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { eventually, isReadyNow } from '../support/wait.ts';

// The operator runs in this process and reaches the API server only through a loopback proxy
// that cuts and refuses its connections; the test itself talks to the API server directly.
let ctx: TestContext;
let proxy: TcpProxy;
let kubeconfigPath: string;
let op: RunningOperator | undefined;
let user: string;
const PLURALS = ['rabbitbrokers', ...TOPOLOGY_KINDS.map((k) => k.def.plural)];
const RESYNC = 3_600_000;

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  user = `${ctx.namespace}-rot`;
  await createBroker(ctx);
  proxy = await startTcpProxy(ctx.kc.getCurrentCluster()!.server);
  kubeconfigPath = join(ctx.env.dir, `kubeconfig-proxied-${ctx.namespace}`);
  writeFileSync(kubeconfigPath, kubeconfigThrough(readFileSync(ctx.env.kubeconfigPath, 'utf8'), proxy.url));
  await ctx.core.createNamespacedSecret({
    namespace: ctx.namespace,
    body: { metadata: { name: 'rot' }, stringData: { password: 'one' } },
  });
});
afterAll(async () => {
  await op?.stop();
  await proxy?.close();
  if (ctx) await ctx.broker.del(`/users/${enc(user)}`);
  await ctx?.cleanup();
});

const ready = (plural: string, name: string, timeoutMs = 30_000) =>
  eventually(() => ctx.get(plural, name), isReadyNow, { timeoutMs, what: `${plural}/${name} Ready` });
const queue = (name: string) => ({ brokerRef: { name: 'local' }, vhost: ctx.vhost, name });
const queueStatus = async (name: string) =>
  (await ctx.broker.get(`/queues/${enc(ctx.vhost)}/${enc(name)}`)).status;
const rotate = (password: string) =>
  ctx.core.replaceNamespacedSecret({
    name: 'rot',
    namespace: ctx.namespace,
    body: { metadata: { name: 'rot' }, stringData: { password } },
  });
/** The management API's answer to the user logging in with `password`: 200 or 401. */
const whoami = async (password: string) =>
  (
    await fetch(`${ctx.env.managementUrl}/api/whoami`, {
      headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
    })
  ).status;
const loginWorks = (password: string, timeoutMs = 30_000) =>
  eventually(
    () => whoami(password),
    (s) => s === 200,
    { timeoutMs, what: `${user} logs in with password ${password}` },
  );
const restarts = async (o: RunningOperator) => {
  const values = (await o.metrics.informerRestarts.get()).values;
  return Object.fromEntries(
    PLURALS.map((p) => [p, values.filter((v) => v.labels.informer === p).reduce((s, v) => s + v.value, 0)]),
  );
};

describe('watch faults between the operator and the API server', () => {
  it('cut, then refused: unready while the lists fail; what changed meanwhile reaches the broker after', async () => {
    op = await startOperator(ctx, { kubeconfigPath, resyncMs: RESYNC });
    const o = op;
    await ctx.create('rabbitusers', 'rot', {
      brokerRef: { name: 'local' },
      username: user,
      tags: ['management'],
      credentialsSecretRef: { name: 'rot' },
    });
    await ctx.create('rabbitqueues', 'before', queue('before'));
    await ready('rabbitusers', 'rot');
    await ready('rabbitqueues', 'before');
    await loginWorks('one');
    expect(o.operator.ready).toBe(true);

    const base = await restarts(o);
    proxy.refuse(true);
    proxy.cut();
    await eventually(
      async () => o.operator.ready,
      (r) => !r,
      { timeoutMs: 15_000, what: 'operator unready after the cut' },
    );
    await ctx.create('rabbitqueues', 'during', queue('during'));
    await rotate('two');
    // Every informer fails again and again after the cut (LISTs refused, for a few seconds of
    // backoff): readiness stays false throughout.
    let sawReady = false;
    await eventually(
      async () => {
        sawReady ||= o.operator.ready;
        return restarts(o);
      },
      (r) => PLURALS.every((p) => r[p]! >= base[p]! + 3),
      { timeoutMs: 30_000, what: 'two failed LISTs of every informer while refused' },
    );
    sawReady ||= o.operator.ready;
    expect(sawReady).toBe(false);
    expect(o.operator.cachesSynced).toBe(false);
    // Unseen by the operator: not declared, no status.
    expect((await ctx.get('rabbitqueues', 'during')).status).toBeUndefined();
    expect(await queueStatus('during')).toBe(404);

    proxy.refuse(false);
    await eventually(
      async () => o.operator.ready,
      (r) => r,
      { timeoutMs: 60_000, what: 'operator ready again' },
    );
    await ready('rabbitqueues', 'during', 60_000);
    expect(await queueStatus('during')).toBe(200);
    await loginWorks('two', 60_000);
    expect(await whoami('one')).toBe(401);

    // The re-established Secret watch sees the next rotation too.
    await rotate('three');
    await loginWorks('three');
    expect(await whoami('two')).toBe(401);
    expect(o.operator.ready).toBe(true);
  }, 180_000);

  it('start-up with the API server unreachable: caches never sync, nothing is decided, then everything converges', async () => {
    await op!.stop();
    op = undefined;
    proxy.refuse(true);
    // While nothing runs: a queue is deleted (its finalizer holds it), one created, the password rotated.
    await ctx.remove('rabbitqueues', 'before');
    await ctx.create('rabbitqueues', 'at-start', queue('at-start'));
    await rotate('four');

    const accepted = proxy.accepted;
    const o = await startOperator(ctx, { kubeconfigPath, resyncMs: RESYNC, waitForCaches: false });
    op = o;
    let started = false;
    void o.started.then(() => (started = true));
    await eventually(
      async () => proxy.accepted,
      (n) => n >= accepted + 4,
      { timeoutMs: 30_000, what: 'four refused attempts of the operator' },
    );
    expect(started).toBe(false);
    expect(o.operator.ready).toBe(false);
    // Nothing was decided on empty caches: the deleted queue is still in the broker and held.
    expect(await queueStatus('before')).toBe(200);
    expect((await ctx.get('rabbitqueues', 'before')).metadata.deletionTimestamp).toBeTruthy();
    expect((await ctx.get('rabbitqueues', 'at-start')).status).toBeUndefined();

    proxy.refuse(false);
    await eventually(
      async () => started,
      (s) => s,
      { timeoutMs: 60_000, what: 'startCaches() resolved' },
    );
    expect(o.operator.ready).toBe(true);
    await ready('rabbitqueues', 'at-start', 60_000);
    expect(await queueStatus('at-start')).toBe(200);
    await ctx.waitGone('rabbitqueues', 'before', 60_000);
    expect(await queueStatus('before')).toBe(404);
    await loginWorks('four', 60_000);
    expect(await whoami('three')).toBe(401);
  }, 180_000);
});
