import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { TestContext } from '../support/context.ts';
import { useOperator } from '../support/suite.ts';
import { enc } from '../support/management.ts';
import { createBroker } from '../support/operator.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

let ctx: TestContext;
useOperator(import.meta.url, (c) => (ctx = c));

const ready = (plural: string, name: string) =>
  eventually(() => ctx.get(plural, name), isReadyNow, { what: `${plural}/${name} Ready` });
const events = async () =>
  (await ctx.kc.makeApiClient(k8s.EventsV1Api).listNamespacedEvent({ namespace: ctx.namespace })).items;

describe('deletion never hangs', () => {
  it('releases the finalizer with a Warning event when the RabbitBroker is gone', async () => {
    await createBroker(ctx, 'temp');
    await ctx.create('rabbitqueues', 'orphan', { brokerRef: { name: 'temp' }, vhost: ctx.vhost });
    await ready('rabbitqueues', 'orphan');
    await ctx.remove('rabbitbrokers', 'temp');
    await ctx.waitGone('rabbitbrokers', 'temp');
    const q = await eventually(
      () => ctx.get('rabbitqueues', 'orphan'),
      (o) => readyOf(o)?.reason === 'BrokerNotFound',
      {
        what: 'BrokerNotFound',
      },
    );
    expect(readyOf(q).status).toBe('False');
    await ctx.remove('rabbitqueues', 'orphan');
    await ctx.waitGone('rabbitqueues', 'orphan');
    const ev = await eventually(events, (list) => list.some((e) => e.reason === 'FinalizerReleased'));
    const released = ev.find((e) => e.reason === 'FinalizerReleased')!;
    expect(released.type).toBe('Warning');
    expect(released.regarding?.name).toBe('orphan');
    // Retained in the broker: nothing could be deleted.
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/orphan`)).status).toBe(200);
  });

  it('reports BrokerUnreachable when the management API does not answer', async () => {
    await createBroker(ctx, 'down', 'http://127.0.0.1:9');
    const b = await eventually(
      () => ctx.get('rabbitbrokers', 'down'),
      (o) => readyOf(o)?.status === 'False',
    );
    expect(readyOf(b).reason).toBe('BrokerUnreachable');
    await ctx.create('rabbitqueues', 'stranded', { brokerRef: { name: 'down' }, vhost: ctx.vhost });
    const q = await eventually(
      () => ctx.get('rabbitqueues', 'stranded'),
      (o) => readyOf(o)?.status === 'False',
    );
    expect(readyOf(q).reason).toBe('BrokerUnreachable');
    expect(readyOf(q).message).not.toContain(ctx.env.adminPassword);
  });

  it('finishes deleting the namespace while a broker is unreachable', async () => {
    await ctx.create('rabbitvhosts', 'vh', { brokerRef: { name: 'down' }, name: `${ctx.namespace}-never` });
    await ctx.create('rabbitqueues', 'q2', { brokerRef: { name: 'local' }, vhost: ctx.vhost });
    await ready('rabbitqueues', 'q2');
    // The reachable broker now points nowhere as well.
    await ctx.custom.patchNamespacedCustomObject(
      {
        group: 'warren.dev',
        version: 'v1alpha1',
        namespace: ctx.namespace,
        plural: 'rabbitbrokers',
        name: 'local',
        body: { spec: { endpoint: 'http://127.0.0.1:9' } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await eventually(
      () => ctx.get('rabbitbrokers', 'local'),
      (o) => readyOf(o)?.reason === 'BrokerUnreachable',
    );
    await ctx.core.deleteNamespace({ name: ctx.namespace });
    await eventually(
      () =>
        ctx.core.readNamespace({ name: ctx.namespace }).then(
          () => 'present',
          (e) => (e.code === 404 ? 'gone' : 'error'),
        ),
      (s) => s === 'gone',
      { timeoutMs: 60_000, intervalMs: 250, what: 'namespace deleted' },
    );
  });
});
