import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/common.ts';
import { PAUSE_ANNOTATION } from '../../src/kinds/topology.ts';
import type { TestContext } from '../support/context.ts';
import { startSlowProxy, type SlowProxy } from '../support/http-proxy.ts';
import { enc } from '../support/management.ts';
import { aSurveyStartedNow, createBroker } from '../support/operator.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// warren.dev/paused: "true" on a resource, or on its RabbitBroker, makes warren observe only. The
// RabbitBroker `counted` reaches the broker through a counting proxy: while paused, nothing but GETs
// (no declaration, no repair, no deletion), even with a spec change and drift made behind warren's
// back (which the status reports); after the annotation is removed, everything converges.
let ctx: TestContext;
let proxy: SlowProxy;
useOperator(import.meta.url, (c) => (ctx = c), {
  resyncMs: 3_600_000,
  cleanup: async () => {
    await proxy?.close();
  },
});

const B = { name: 'counted' };
const within = { timeoutMs: 40_000, intervalMs: 200 };
const cond = (o: any, type: string) => o?.status?.conditions?.find((c: any) => c.type === type);
const writes = (from: number) => proxy.log.slice(from).filter((l) => !l.startsWith('GET '));
const ready = (plural: string, name: string) =>
  eventually(() => ctx.get(plural, name), isReadyNow, { ...within, what: `${plural}/${name} Ready` });
/** Ready at its generation and no longer paused (Ready as last known is no proof of a resume). */
const resumed = (plural: string, name: string) =>
  eventually(
    () => ctx.get(plural, name),
    (o) => isReadyNow(o) && cond(o, 'Paused')?.status !== 'True',
    { ...within, what: `${plural}/${name} resumed and Ready` },
  );
const paused = (plural: string, name: string, reason: string) =>
  eventually(
    () => ctx.get(plural, name),
    (o) => cond(o, 'Paused')?.status === 'True' && cond(o, 'Paused')?.reason === reason,
    { ...within, what: `${plural}/${name} Paused ${reason}` },
  );
const annotate = (plural: string, name: string, value: string | null) =>
  ctx.custom.patchNamespacedCustomObject(
    {
      group: GROUP,
      version: VERSION,
      namespace: ctx.namespace,
      plural,
      name,
      body: { metadata: { annotations: { [PAUSE_ANNOTATION]: value } } },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
const policyInBroker = async (name: string) =>
  (await ctx.broker.get(`/policies/${enc(ctx.vhost)}/${name}`)).body?.definition;

describe('warren.dev/paused', () => {
  it('on resources: zero writes with a spec change, drift behind warren’s back and a deletion; the status says so; converges once removed', async () => {
    proxy = await startSlowProxy(ctx.env.managementUrl);
    await createBroker(ctx, 'counted', proxy.url, '5s');
    await ctx.create('rabbitqueues', 'jobs', { brokerRef: B, vhost: ctx.vhost });
    await ctx.create('rabbitpolicies', 'limits', {
      brokerRef: B,
      vhost: ctx.vhost,
      pattern: '^jobs$',
      applyTo: 'queues',
      definition: { 'max-length': 10 },
    });
    await ready('rabbitqueues', 'jobs');
    const before = await ready('rabbitpolicies', 'limits');

    await annotate('rabbitqueues', 'jobs', 'true');
    await annotate('rabbitpolicies', 'limits', 'true');
    // The survey notices the annotations (they are no event of their own) and the reconcile says so.
    const q = await paused('rabbitqueues', 'jobs', 'InSync');
    expect(cond(q, 'Paused').message).toMatch(
      /paused \(warren.dev\/paused on it\): .*the broker matches the spec/,
    );
    await paused('rabbitpolicies', 'limits', 'InSync');
    const mark = proxy.log.length;

    // A spec change: not applied; Ready as last known, observedGeneration not moved.
    await ctx.patchSpec('rabbitpolicies', 'limits', { definition: { 'max-length': 20 } });
    const p = await paused('rabbitpolicies', 'limits', 'Drifted');
    expect(cond(p, 'Paused').message).toMatch(
      /the broker differs from the spec \(warren would call putPolicy\)/,
    );
    expect(readyOf(p)).toMatchObject({ status: 'True', reason: 'Reconciled' });
    expect(p.status.observedGeneration).toBe(before.metadata.generation);
    expect(p.metadata.generation).toBe(before.metadata.generation + 1);

    // Drift behind warren's back (directly, not through the proxy): found by the survey, reported, not repaired.
    expect(await ctx.broker.del(`/queues/${enc(ctx.vhost)}/jobs`)).toBe(204);
    const drifted = await paused('rabbitqueues', 'jobs', 'Drifted');
    console.log(`paused queue after drift: ${JSON.stringify(cond(drifted, 'Paused'))}`);
    expect(cond(drifted, 'Paused').message).toMatch(/warren would call putQueue/);

    // A deletion holds the finalizer, saying why; nothing is deleted in the broker.
    await ctx.remove('rabbitpolicies', 'limits');
    const held = await eventually(
      () => ctx.get('rabbitpolicies', 'limits'),
      (o) => readyOf(o)?.reason === 'DeleteFailed',
      { ...within, what: 'limits held' },
    );
    expect(readyOf(held).message).toMatch(/^paused .*: the broker object is not deleted while paused/);
    expect(cond(held, 'Paused')).toMatchObject({ status: 'True', reason: 'DeletionHeld' });

    // A few more surveys: still nothing written.
    await aSurveyStartedNow(ctx, 'counted');
    await aSurveyStartedNow(ctx, 'counted');
    const whilePaused = proxy.log.slice(mark);
    console.log(
      `while paused: ${whilePaused.length} requests, ${writes(mark).length} writes: ${JSON.stringify(writes(mark))}`,
    );
    expect(writes(mark)).toEqual([]);
    expect(whilePaused.length).toBeGreaterThan(0);
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/jobs`)).status).toBe(404);
    expect(await policyInBroker('limits')).toEqual({ 'max-length': 10 });

    // Removed: the queue is declared again, the policy deleted, its finalizer released.
    const resumedAt = proxy.log.length;
    await annotate('rabbitqueues', 'jobs', null);
    await annotate('rabbitpolicies', 'limits', null);
    const back = await resumed('rabbitqueues', 'jobs');
    expect(cond(back, 'Paused')).toMatchObject({ status: 'False', reason: 'Resumed' });
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/jobs`)).status).toBe(200);
    await ctx.waitGone('rabbitpolicies', 'limits', 30_000);
    expect((await ctx.broker.get(`/policies/${enc(ctx.vhost)}/limits`)).status).toBe(404);
    console.log(`after resuming: ${JSON.stringify(writes(resumedAt))}`);
    expect(writes(resumedAt).sort()).toEqual(
      [`PUT /api/queues/${enc(ctx.vhost)}/jobs`, `DELETE /api/policies/${enc(ctx.vhost)}/limits`].sort(),
    );
  });

  it('on the RabbitBroker: all of its resources, new ones too; converges once removed', async () => {
    await ctx.create('rabbitpolicies', 'other', {
      brokerRef: B,
      vhost: ctx.vhost,
      pattern: '^other$',
      applyTo: 'queues',
      definition: { 'max-length': 1 },
    });
    await ready('rabbitpolicies', 'other');
    await annotate('rabbitbrokers', 'counted', 'true');
    const p = await paused('rabbitpolicies', 'other', 'InSync');
    expect(cond(p, 'Paused').message).toMatch(/paused \(warren.dev\/paused on RabbitBroker .*\/counted\)/);
    await paused('rabbitqueues', 'jobs', 'InSync');
    const mark = proxy.log.length;

    await ctx.patchSpec('rabbitpolicies', 'other', { definition: { 'max-length': 2 } });
    await ctx.create('rabbitqueues', 'late', { brokerRef: B, vhost: ctx.vhost });
    await paused('rabbitpolicies', 'other', 'Drifted');
    const late = await paused('rabbitqueues', 'late', 'Drifted');
    // Never reconciled before: no Ready to keep.
    expect(readyOf(late)).toBeUndefined();
    expect(await ctx.broker.del(`/queues/${enc(ctx.vhost)}/jobs`)).toBe(204);
    await paused('rabbitqueues', 'jobs', 'Drifted');
    await aSurveyStartedNow(ctx, 'counted');
    console.log(
      `broker paused: ${proxy.log.length - mark} requests, writes: ${JSON.stringify(writes(mark))}`,
    );
    expect(writes(mark)).toEqual([]);
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/late`)).status).toBe(404);
    expect(await policyInBroker('other')).toEqual({ 'max-length': 1 });

    const resumedAt = proxy.log.length;
    await annotate('rabbitbrokers', 'counted', null);
    await resumed('rabbitqueues', 'late');
    await resumed('rabbitqueues', 'jobs');
    const other = await resumed('rabbitpolicies', 'other');
    expect(cond(other, 'Paused')).toMatchObject({ status: 'False', reason: 'Resumed' });
    expect(await policyInBroker('other')).toEqual({ 'max-length': 2 });
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/late`)).status).toBe(200);
    console.log(`after resuming the broker: ${JSON.stringify(writes(resumedAt))}`);
    expect(writes(resumedAt).sort()).toEqual(
      [
        `PUT /api/policies/${enc(ctx.vhost)}/other`,
        `PUT /api/queues/${enc(ctx.vhost)}/jobs`,
        `PUT /api/queues/${enc(ctx.vhost)}/late`,
      ].sort(),
    );
  });
});
