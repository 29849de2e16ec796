import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../support/context.ts';
import { startSlowProxy, type SlowProxy } from '../support/http-proxy.ts';
import { enc } from '../support/management.ts';
import type { RunningOperator } from '../support/operator.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// A slow broker is not a dead broker: a survey that times out (a big queue list) is reported on
// its own condition and never turns the broker or its dependents unreachable.
let ctx: TestContext;
let op: RunningOperator;
let proxy: SlowProxy;
useOperator(import.meta.url, (c, o) => {
  ctx = c;
  op = o;
});

const b = { name: 'slow' };
beforeAll(async () => {
  proxy = await startSlowProxy(ctx.env.managementUrl);
  await ctx.core.createNamespacedSecret({
    namespace: ctx.namespace,
    body: {
      metadata: { name: 'slow-admin' },
      stringData: { username: ctx.env.adminUser, password: ctx.env.adminPassword },
    },
  });
  await ctx.create('rabbitbrokers', 'slow', {
    endpoint: proxy.url,
    credentialsSecretRef: { name: 'slow-admin' },
    surveyInterval: '5s',
    requestTimeout: '3s', // long enough for a probe on a loaded CI machine
  });
});
afterAll(async () => proxy?.close());

const broker = () => ctx.get('rabbitbrokers', 'slow');
const condition = (o: any, type: string) => o?.status?.conditions?.find((c: any) => c.type === type);
const ready = (name: string) =>
  eventually(() => ctx.get('rabbitqueues', name), isReadyNow, { what: `${name} Ready` });
const events = async () =>
  (await ctx.kc.makeApiClient(k8s.EventsV1Api).listNamespacedEvent({ namespace: ctx.namespace })).items;

describe('a slow broker', () => {
  it('keeps the broker and its dependents Ready while surveys time out, and reports the survey failing', async () => {
    await ctx.create('rabbitqueues', 'before', { brokerRef: b, vhost: ctx.vhost });
    await ready('before');
    await eventually(broker, (o) => condition(o, 'Surveyed')?.status === 'True', { what: 'first survey' });

    // The survey's queue list (not the reconciles' single-queue reads) now takes longer than requestTimeout.
    proxy.slow(/^\/api\/queues\/[^/]+$/, 6000);
    const failed = await eventually(broker, (o) => condition(o, 'Surveyed')?.status === 'False', {
      timeoutMs: 30_000,
      what: 'a failed survey',
    });
    expect(condition(failed, 'Surveyed').reason).toBe('SurveyFailed');
    expect(condition(failed, 'Surveyed').message).toMatch(/queues/);
    expect(readyOf(failed).status).toBe('True');

    // Work goes on: a new queue becomes Ready, the old one stays Ready.
    await ctx.create('rabbitqueues', 'during', { brokerRef: b, vhost: ctx.vhost });
    await ready('during');
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/during`)).status).toBe(200);
    expect(isReadyNow(await ctx.get('rabbitqueues', 'before'))).toBe(true);
    // More failed surveys: the condition stays put (no flapping) and each failure is counted.
    const lastFailure = condition(failed, 'Surveyed').lastTransitionTime;
    const failures = async () =>
      (await op.metrics.surveyFailures.get()).values.reduce((n, v) => n + v.value, 0);
    await eventually(failures, (n) => n >= 2, { timeoutMs: 30_000, what: 'a second failed survey' });
    expect(condition(await broker(), 'Surveyed').lastTransitionTime).toBe(lastFailure);
    expect(readyOf(await broker()).status).toBe('True');

    proxy.slow(undefined);
    const back = await eventually(broker, (o) => condition(o, 'Surveyed')?.status === 'True', {
      timeoutMs: 30_000,
      what: 'survey back',
    });
    expect(readyOf(back).status).toBe('True');
    // At no point did anything say the broker was unreachable.
    expect((await events()).filter((e) => e.reason === 'BrokerUnreachable')).toEqual([]);
  });

  it('serves every request slowly without calling the broker down', async () => {
    proxy.slow(/./, 1000);
    try {
      for (const name of ['slow-1', 'slow-2', 'slow-3'])
        await ctx.create('rabbitqueues', name, { brokerRef: b, vhost: ctx.vhost });
      for (const name of ['slow-1', 'slow-2', 'slow-3']) await ready(name);
      expect(readyOf(await broker()).status).toBe('True');
    } finally {
      proxy.slow(undefined);
    }
    expect((await events()).filter((e) => e.reason === 'BrokerUnreachable')).toEqual([]);
  });
});
