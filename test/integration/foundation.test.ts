import * as k8s from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await testContext(import.meta.url);
});
afterAll(async () => ctx?.cleanup());

async function statusOf(p: Promise<unknown>): Promise<{ code: number; body: any }> {
  try {
    await p;
    return { code: 200, body: undefined };
  } catch (err) {
    if (!(err instanceof k8s.ApiException)) throw err;
    return { code: err.code, body: JSON.parse(err.body as string) };
  }
}

describe('the real kube-apiserver', () => {
  it('reports the pinned version', () => {
    expect(ctx.env.kubernetesVersion).toMatch(/^v1\.\d+\.\d+$/);
  });

  it('stores a custom resource with the schema defaults applied', async () => {
    await ctx.create('rabbitqueues', 'orders', { brokerRef: { name: 'local' } });
    const q = await ctx.get('rabbitqueues', 'orders');
    expect(q.spec).toMatchObject({ vhost: '/', durable: true, autoDelete: false, deletionPolicy: 'Delete' });
    expect(q.metadata.generation).toBe(1);
  });

  it('rejects a malformed resource with 422 and the field path', async () => {
    const res = await statusOf(
      ctx.create('rabbitqueues', 'bad-type', { brokerRef: { name: 'local' }, type: 'lazy' }),
    );
    expect(res.code).toBe(422);
    expect(res.body.reason).toBe('Invalid');
    expect(JSON.stringify(res.body.details.causes)).toContain('spec.type');
  });

  it('rejects a change to an immutable field through a CEL rule', async () => {
    await ctx.create('rabbitqueues', 'fixed', {
      brokerRef: { name: 'local' },
      arguments: { 'x-max-length': 10 },
    });
    const res = await statusOf(
      ctx.custom.patchNamespacedCustomObject(
        {
          group: 'warren.dev',
          version: 'v1alpha1',
          namespace: ctx.namespace,
          plural: 'rabbitqueues',
          name: 'fixed',
          body: { spec: { arguments: { 'x-max-length': 20 } } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    );
    expect(res.code).toBe(422);
    expect(res.body.message).toContain('arguments is immutable');
  });

  it('deletes a namespace to completion (kube-controller-manager runs)', async () => {
    const name = `${ctx.namespace}-gone`;
    await ctx.core.createNamespace({ body: { metadata: { name } } });
    await ctx.core.createNamespacedConfigMap({
      namespace: name,
      body: { metadata: { name: 'x' }, data: { a: 'b' } },
    });
    await ctx.core.deleteNamespace({ name });
    let gone = false;
    for (let i = 0; i < 120 && !gone; i++) {
      gone = (await statusOf(ctx.core.readNamespace({ name }))).code === 404;
      if (!gone) await sleep(250);
    }
    expect(gone).toBe(true);
  });
});

describe('the real RabbitMQ', () => {
  it('creates a vhost and reads it back', async () => {
    const name = `${ctx.vhost}/extra é`;
    expect(await ctx.broker.put(`/vhosts/${enc(name)}`, { description: 'made by a test', tags: ['a'] })).toBe(
      201,
    );
    const res = await ctx.broker.get(`/vhosts/${enc(name)}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name, description: 'made by a test', tags: ['a'] });
    expect(await ctx.broker.del(`/vhosts/${enc(name)}`)).toBe(204);
  });

  it('is the isolated node, not a system broker', async () => {
    const res = await ctx.broker.get('/overview');
    expect(res.body.node).toMatch(/^warren-\d+@localhost$/);
  });
});
