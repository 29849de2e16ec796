import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/common.ts';
import type { TestContext } from '../support/context.ts';
import { startSlowProxy, type SlowProxy } from '../support/http-proxy.ts';
import { enc } from '../support/management.ts';
import { createBroker } from '../support/operator.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// What a new object costs the broker: one write, and no read when the last survey already looked
// where it would be and did not find it. And Kubernetes: one status write, even for a resource
// applied together with what it waits for.
let ctx: TestContext;
let proxy: SlowProxy;
useOperator(import.meta.url, (c) => (ctx = c), {
  cleanup: async (c) => {
    await proxy?.close();
    await c.broker.del(`/vhosts/${enc(`${c.namespace}-fresh`)}`);
    await c.broker.del(`/vhosts/${enc(`${c.namespace}-paired`)}`);
    await c.broker.del(`/vhosts/${enc(`${c.namespace}-behind`)}`);
  },
});

const b = { name: 'counted' };
const ready = (name: string) =>
  eventually(() => ctx.get('rabbitqueues', name), isReadyNow, { what: `${name} Ready`, timeoutMs: 30_000 });

describe('broker requests per new object', () => {
  it('declares a new queue with one PUT and no GET once a survey has read its vhost', async () => {
    proxy = await startSlowProxy(ctx.env.managementUrl);
    await createBroker(ctx, 'counted', proxy.url, '5s');
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

  it('declares what goes inside a vhost it has just created without reading it first', async () => {
    // A broker surveyed once, when it is created: no survey reads the new vhost below.
    await ctx.create('rabbitbrokers', 'once', {
      endpoint: proxy.url,
      credentialsSecretRef: { name: 'counted-admin' },
      surveyInterval: '1h',
    });
    await eventually(
      () => ctx.get('rabbitbrokers', 'once'),
      (o) => o.status?.survey?.managed === 0,
      { timeoutMs: 30_000, what: 'the first survey of broker once' },
    );
    const brokerRef = { name: 'once' };
    const vhost = `${ctx.namespace}-fresh`;
    await ctx.create('rabbitvhosts', 'fresh', { brokerRef, name: vhost });
    await eventually(() => ctx.get('rabbitvhosts', 'fresh'), isReadyNow, { what: 'the vhost Ready' });
    const start = proxy.log.length;
    const names = Array.from({ length: 10 }, (_, i) => `fresh-${i}`);
    for (const n of names) await ctx.create('rabbitqueues', n, { brokerRef, vhost, name: n });
    await ctx.create('rabbitexchanges', 'fresh-x', { brokerRef, vhost, name: 'x', type: 'topic' });
    for (const [plural, name] of [...names.map((n) => ['rabbitqueues', n]), ['rabbitexchanges', 'fresh-x']])
      await eventually(() => ctx.get(plural!, name!), isReadyNow, { what: `${plural}/${name} Ready` });
    await ctx.create('rabbitbindings', 'fresh-b', {
      brokerRef,
      vhost,
      source: 'x',
      destination: 'fresh-0',
      routingKey: 'k',
    });
    await eventually(() => ctx.get('rabbitbindings', 'fresh-b'), isReadyNow, { what: 'the binding Ready' });

    const v = enc(vhost);
    const during = proxy.log.slice(start).filter((l) => l.includes(`/${v}/`));
    expect(during.filter((l) => l.startsWith('GET '))).toEqual([]);
    for (const n of names)
      expect(
        during.filter((l) => l === `PUT /api/queues/${v}/${n}`),
        n,
      ).toHaveLength(1);
    expect(during.filter((l) => l === `PUT /api/exchanges/${v}/x`)).toHaveLength(1);
    expect(during.filter((l) => l === `POST /api/bindings/${v}/e/x/q/fresh-0`)).toHaveLength(1);
  });

  it('writes waiting, then Ready, and no event for a queue whose vhost is created just after it', async () => {
    const vhost = `${ctx.namespace}-paired`;
    // Every version of the RabbitQueue the API server stores, in order.
    const versions: any[] = [];
    const watch = await new k8s.Watch(ctx.kc).watch(
      `/apis/${GROUP}/${VERSION}/namespaces/${ctx.namespace}/rabbitqueues`,
      { fieldSelector: 'metadata.name=paired' },
      (_type, o: any) => versions.push(o),
      () => undefined,
    );
    try {
      const start = proxy.log.length;
      await ctx.create('rabbitqueues', 'paired', { brokerRef: b, vhost, name: 'paired' });
      // warren has tried the queue while its vhost is missing (the broker refused it)...
      await eventually(
        async () => proxy.log.slice(start),
        (l) => l.includes(`PUT /api/queues/${enc(vhost)}/paired`),
        { what: 'the queue tried in the missing vhost' },
      );
      // ...and the vhost comes a moment later, as when both are in one apply.
      await ctx.create('rabbitvhosts', 'paired', { brokerRef: b, name: vhost });
      await eventually(
        async () => versions,
        (vs) => vs.some(isReadyNow),
        { what: 'the watch delivering the queue Ready', timeoutMs: 30_000 },
      );
      const statuses = versions
        .filter((o) => o.status)
        .map((o) => `${readyOf(o)?.status} ${readyOf(o)?.reason}`);
      // Waiting is said at once (GitOps tools read no status as done); the Warning event is held.
      expect(statuses).toEqual(['False WaitingForDependency', 'True Reconciled']);
      const events = await ctx.kc
        .makeApiClient(k8s.EventsV1Api)
        .listNamespacedEvent({ namespace: ctx.namespace });
      expect(
        events.items.filter((e) => e.regarding?.name === 'paired' && e.regarding.kind === 'RabbitQueue'),
      ).toEqual([]);
    } finally {
      watch.abort();
    }
  });

  it('sends nothing for a queue until the RabbitVhost applied with it has created its vhost', async () => {
    const vhost = `${ctx.namespace}-behind`;
    const v = enc(vhost);
    const start = proxy.log.length;
    // The vhost's creation takes 3 s: the queue below is reconciled meanwhile.
    proxy.slow(new RegExp(`^/api/vhosts/${v}$`), 3000); // v: letters, digits, '-' and '%'
    try {
      await ctx.create('rabbitvhosts', 'behind', { brokerRef: b, name: vhost });
      await eventually(
        async () => proxy.log.slice(start),
        (l) => l.some((x) => x.endsWith(` /api/vhosts/${v}`)),
        { what: 'the vhost on its way' },
      );
      await ctx.create('rabbitqueues', 'behind', { brokerRef: b, vhost, name: 'behind' });
      await ready('behind');
    } finally {
      proxy.slow(undefined);
    }
    const queue = proxy.log.slice(start).filter((l) => l.includes(`/api/queues/${v}/`));
    expect(queue).toEqual([`PUT /api/queues/${v}/behind`]);
  });
});
