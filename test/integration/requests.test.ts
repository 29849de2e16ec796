import { describe, expect, it } from 'vitest';
import type { TestContext } from '../support/context.ts';
import { startSlowProxy, type SlowProxy } from '../support/http-proxy.ts';
import { enc } from '../support/management.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow } from '../support/wait.ts';

// What a new object costs the broker: one write, and no read when the last survey already looked
// where it would be and did not find it.
let ctx: TestContext;
let proxy: SlowProxy;
useOperator(import.meta.url, (c) => (ctx = c), { cleanup: async () => proxy?.close() });

const b = { name: 'counted' };
const ready = (name: string) =>
  eventually(() => ctx.get('rabbitqueues', name), isReadyNow, { what: `${name} Ready`, timeoutMs: 30_000 });

describe('broker requests per new object', () => {
  it('declares a new queue with one PUT and no GET once a survey has read its vhost', async () => {
    proxy = await startSlowProxy(ctx.env.managementUrl);
    await ctx.core.createNamespacedSecret({
      namespace: ctx.namespace,
      body: {
        metadata: { name: 'counted-admin' },
        stringData: { username: ctx.env.adminUser, password: ctx.env.adminPassword },
      },
    });
    await ctx.create('rabbitbrokers', 'counted', {
      endpoint: proxy.url,
      credentialsSecretRef: { name: 'counted-admin' },
      surveyInterval: '5s',
    });
    // A first queue makes the vhost one the survey reads.
    await ctx.create('rabbitqueues', 'first', { brokerRef: b, vhost: ctx.vhost });
    await ready('first');
    const queueList = `GET /api/queues/${enc(ctx.vhost)}`;
    const lists = () => proxy.log.filter((l) => l === queueList).length;
    const seen = lists();
    await eventually(
      async () => lists(),
      (n) => n > seen,
      { timeoutMs: 30_000, what: 'a survey of the vhost' },
    );

    const start = proxy.log.length;
    const names = Array.from({ length: 20 }, (_, i) => `new-${i}`);
    for (const n of names) await ctx.create('rabbitqueues', n, { brokerRef: b, vhost: ctx.vhost });
    for (const n of names) await ready(n);
    const during = proxy.log.slice(start);
    for (const n of names) {
      const path = `/api/queues/${enc(ctx.vhost)}/${n}`;
      expect(
        during.filter((l) => l === `PUT ${path}`),
        n,
      ).toHaveLength(1);
      expect(
        during.filter((l) => l === `GET ${path}`),
        n,
      ).toHaveLength(0);
    }
  });
});
