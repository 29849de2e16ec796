import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { TestContext } from '../support/context.ts';
import { useOperator } from '../support/suite.ts';
import { enc } from '../support/management.ts';
import { createBroker } from '../support/operator.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

let ctx: TestContext;
let vh: string;
useOperator(import.meta.url, (c) => {
  ctx = c;
  vh = enc(ctx.vhost);
});

const spec = (extra: Record<string, unknown> = {}) => ({
  brokerRef: { name: 'local' },
  vhost: ctx.vhost,
  ...extra,
});
const ready = (name: string) =>
  eventually(() => ctx.get('rabbitqueues', name), isReadyNow, { what: `${name} Ready` });
const inBroker = (name: string) => ctx.broker.get(`/queues/${vh}/${enc(name)}`);

describe('RabbitQueue', () => {
  it('declares a durable classic queue by default, named after the resource', async () => {
    await ctx.create('rabbitqueues', 'plain', spec());
    const q = await ready('plain');
    expect(q.status.name).toBe('plain');
    const res = await inBroker('plain');
    expect(res.body).toMatchObject({ durable: true, auto_delete: false, type: 'classic' });
  });

  it('declares a quorum queue with arguments under a broker name that is not a valid object name', async () => {
    await ctx.create(
      'rabbitqueues',
      'orders',
      spec({
        name: 'orders/in q#1',
        type: 'quorum',
        arguments: { 'x-max-length': 1000, 'x-dead-letter-exchange': 'dlx' },
      }),
    );
    await ready('orders');
    const res = await inBroker('orders/in q#1');
    expect(res.body.type).toBe('quorum');
    expect(res.body.arguments).toMatchObject({
      'x-queue-type': 'quorum',
      'x-max-length': 1000,
      'x-dead-letter-exchange': 'dlx',
    });
  });

  it('re-declares a queue deleted behind its back when reconciled again (drift in the broker)', async () => {
    await ctx.create('rabbitqueues', 'drift', spec());
    await ready('drift');
    expect(await ctx.broker.del(`/queues/${vh}/drift`)).toBe(204);
    // A spec change (deletionPolicy is mutable) triggers a reconcile that reads before writing.
    await ctx.patchSpec('rabbitqueues', 'drift', { deletionPolicy: 'Retain' });
    await eventually(
      () => inBroker('drift'),
      (r) => r.status === 200,
      { what: 'queue re-declared' },
    );
  });

  it('reports an inequivalent existing queue as Rejected with the broker message', async () => {
    expect(
      await ctx.broker.put(`/queues/${vh}/taken`, { durable: false, auto_delete: false, arguments: {} }),
    ).toBe(201);
    await ctx.create('rabbitqueues', 'taken', spec());
    const q = await eventually(
      () => ctx.get('rabbitqueues', 'taken'),
      (o) => readyOf(o)?.status === 'False',
    );
    expect(readyOf(q).reason).toBe('Rejected');
    expect(readyOf(q).message).toContain("inequivalent arg 'durable'");
  });

  it('says Rejected, not applied, for an argument the broker accepts on redeclaration but never changes', async () => {
    const made = { durable: true, auto_delete: false, arguments: { 'x-note': 'first' } };
    expect(await ctx.broker.put(`/queues/${vh}/noted`, made)).toBe(201);
    // The broker compares only the arguments it knows: another x-note is accepted, and ignored.
    await ctx.create('rabbitqueues', 'noted', spec({ arguments: { 'x-note': 'second' } }));
    const q = await eventually(
      () => ctx.get('rabbitqueues', 'noted'),
      (o) => readyOf(o)?.status === 'False' && readyOf(o)?.reason !== 'WaitingForDependency',
      { what: 'noted refused' },
    );
    expect(readyOf(q)).toMatchObject({ status: 'False', reason: 'Rejected' });
    expect(readyOf(q).message).toContain('arguments (broker {"x-note":"first"}, spec {"x-note":"second"})');
    expect((await inBroker('noted')).body.arguments['x-note']).toBe('first');
  });

  it('deletes the broker queue with deletionPolicy Delete and keeps it with Retain', async () => {
    await ctx.create('rabbitqueues', 'gone', spec());
    await ctx.create('rabbitqueues', 'kept', spec({ deletionPolicy: 'Retain' }));
    await ready('gone');
    await ready('kept');
    await ctx.remove('rabbitqueues', 'gone');
    await ctx.remove('rabbitqueues', 'kept');
    await ctx.waitGone('rabbitqueues', 'gone');
    await ctx.waitGone('rabbitqueues', 'kept');
    expect((await inBroker('gone')).status).toBe(404);
    expect((await inBroker('kept')).status).toBe(200);
  });

  it('treats a queue already deleted in the broker as deleted', async () => {
    await ctx.create('rabbitqueues', 'vanished', spec());
    await ready('vanished');
    await ctx.broker.del(`/queues/${vh}/vanished`);
    await ctx.remove('rabbitqueues', 'vanished');
    await ctx.waitGone('rabbitqueues', 'vanished');
  });

  it('has its immutable fields enforced by the API server', async () => {
    await ctx.create('rabbitqueues', 'fixed', spec({ type: 'classic' }));
    for (const change of [
      { type: 'quorum' },
      { durable: false },
      { name: 'other' },
      { vhost: '/' },
      { brokerRef: { name: 'x' } },
    ]) {
      const err = await ctx.patchSpec('rabbitqueues', 'fixed', change).catch((e) => e);
      expect(err).toBeInstanceOf(k8s.ApiException);
      expect((err as k8s.ApiException<unknown>).code).toBe(422);
      expect(String((err as k8s.ApiException<unknown>).body)).toContain('immutable');
    }
  });

  it('lets the older of two resources declaring the same queue own it; deleting the younger deletes nothing', async () => {
    await ctx.create('rabbitqueues', 'first', spec({ name: 'shared' }));
    await ready('first');
    await new Promise((r) => setTimeout(r, 1100)); // creationTimestamp has one-second resolution
    await ctx.create('rabbitqueues', 'second', spec({ name: 'shared' }));
    const second = await eventually(
      () => ctx.get('rabbitqueues', 'second'),
      (o) => readyOf(o)?.reason === 'Conflict',
    );
    expect(readyOf(second).message).toContain('first');
    await ctx.remove('rabbitqueues', 'second');
    await ctx.waitGone('rabbitqueues', 'second');
    expect((await inBroker('shared')).status).toBe(200);
    expect(isReadyNow(await ctx.get('rabbitqueues', 'first'))).toBe(true);
  });
});

describe('the warren.dev/reconcile annotation', () => {
  it('forces a reconcile that repairs what the broker lost, without waiting for a survey', async () => {
    await createBroker(ctx, 'slow', ctx.env.managementUrl, '1h');
    await ctx.create('rabbitqueues', 'poked', spec({ brokerRef: { name: 'slow' } }));
    await ready('poked');
    await ctx.broker.del(`/queues/${vh}/poked`);
    await ctx.custom.patchNamespacedCustomObject(
      {
        group: 'warren.dev',
        version: 'v1alpha1',
        namespace: ctx.namespace,
        plural: 'rabbitqueues',
        name: 'poked',
        body: { metadata: { annotations: { 'warren.dev/reconcile': String(Date.now()) } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await eventually(
      () => inBroker('poked'),
      (r) => r.status === 200,
      { timeoutMs: 5000, what: 'queue back' },
    );
  });
});

describe('conditional deletion', () => {
  it('honours deleteIfEmpty on a quorum queue, which refuses the broker flag', async () => {
    await ctx.create('rabbitqueues', 'qq-full', spec({ type: 'quorum', deleteIfEmpty: true }));
    await ctx.create('rabbitqueues', 'qq-empty', spec({ type: 'quorum', deleteIfEmpty: true }));
    await ready('qq-full');
    await ready('qq-empty');
    const res = await fetch(`${ctx.env.managementUrl}/api/exchanges/${vh}/amq.default/publish`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${ctx.env.adminUser}:${ctx.env.adminPassword}`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        properties: {},
        routing_key: 'qq-full',
        payload: 'x',
        payload_encoding: 'string',
      }),
    });
    expect(((await res.json()) as { routed: boolean }).routed).toBe(true);
    // Message counts reach the management API with the stats interval.
    await eventually(
      () => inBroker('qq-full'),
      (r) => r.body?.messages === 1,
      { what: 'message counted' },
    );

    await ctx.remove('rabbitqueues', 'qq-empty');
    await ctx.waitGone('rabbitqueues', 'qq-empty');
    expect((await inBroker('qq-empty')).status).toBe(404);

    await ctx.remove('rabbitqueues', 'qq-full');
    const o = await eventually(
      () => ctx.get('rabbitqueues', 'qq-full'),
      (x) => readyOf(x)?.reason === 'DeleteFailed',
    );
    expect(readyOf(o).message).toContain('not empty');
    expect((await inBroker('qq-full')).status).toBe(200);
    // Emptied, it goes.
    await ctx.broker.del(`/queues/${vh}/qq-full/contents`);
    await ctx.waitGone('rabbitqueues', 'qq-full', 40_000);
  });
});
