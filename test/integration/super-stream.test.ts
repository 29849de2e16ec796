import * as k8s from '@kubernetes/client-node';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { publish } from '../support/amqp.ts';
import type { TestContext } from '../support/context.ts';
import type { EnvironmentInfo } from '../support/environment.ts';
import { enc } from '../support/management.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// Super streams exist from RabbitMQ 3.11: on 3.10 the resource is Rejected, on the 4.x brokers
// (WARREN_TEST_BROKER=4.0, 4.3) it is proven by messages routed to its partitions.
let ctx: TestContext;
let vh: string;
useOperator(import.meta.url, (c) => {
  ctx = c;
  vh = enc(c.vhost);
});

const b = { name: 'local' };
const within = { timeoutMs: 30_000 };
const supported = () => Number(ctx.env.rabbitmqVersion.split('.')[0]) >= 4;
const get = (name: string) => () => ctx.get('rabbitsuperstreams', name);
const ready = (name: string) => eventually(get(name), isReadyNow, { ...within, what: `${name} Ready` });
const superStream = (name: string, spec: Record<string, unknown>) =>
  ctx.create('rabbitsuperstreams', name, { brokerRef: b, vhost: ctx.vhost, ...spec });

/** Reads a stream from its start with an AMQP 0-9-1 consumer until `n` messages arrived. */
async function readStream(env: EnvironmentInfo, vhost: string, stream: string, n: number): Promise<string[]> {
  const u = new URL(env.amqpUrl);
  const conn = await amqp.connect(
    `amqp://${enc(env.adminUser)}:${enc(env.adminPassword)}@${u.host}/${enc(vhost)}`,
  );
  try {
    const ch = await conn.createChannel();
    await ch.prefetch(100); // a stream consumer needs a prefetch
    const got: string[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    await ch.consume(
      stream,
      (m) => {
        if (!m) return;
        got.push(m.content.toString());
        ch.ack(m);
        if (got.length >= n) done();
      },
      { noAck: false, arguments: { 'x-stream-offset': 'first' } },
    );
    const timer = new Promise<void>((r) => setTimeout(r, 10_000).unref());
    await Promise.race([all, timer]);
    return got;
  } finally {
    await conn.close();
  }
}

describe('RabbitSuperStream', () => {
  it('refuses shrinking, reordering and inconsistent partitions at the API server', async () => {
    for (const spec of [
      {},
      { partitions: 2, routingKeys: ['a', 'b', 'c'] },
      { partitions: 0 },
      { routingKeys: ['a', 'a'] },
    ]) {
      const err = await superStream('bad', spec).catch((e) => e);
      expect((err as k8s.ApiException<unknown>).code, JSON.stringify(spec)).toBe(422);
    }
    await superStream('shape', { partitions: 2 });
    await superStream('shape-keys', { routingKeys: ['amer', 'emea'] });
    for (const [name, change] of [
      ['shape', { partitions: 1 }],
      ['shape', { name: 'renamed' }],
      ['shape-keys', { routingKeys: ['emea', 'amer', 'apac'] }],
      ['shape-keys', { routingKeys: ['amer'] }],
    ] as const) {
      const err = await ctx.patchSpec('rabbitsuperstreams', name, change).catch((e) => e);
      expect((err as k8s.ApiException<unknown>).code, JSON.stringify(change)).toBe(422);
    }
    // Growing is allowed.
    await ctx.patchSpec('rabbitsuperstreams', 'shape-keys', { routingKeys: ['amer', 'emea', 'apac'] });
  });

  it.runIf(!process.env.WARREN_TEST_BROKER || process.env.WARREN_TEST_BROKER === '3.10')(
    'is Rejected on RabbitMQ 3.10, naming the version it needs, and creates nothing',
    async () => {
      await superStream('old', { partitions: 2 });
      const o = await eventually(get('old'), (x) => readyOf(x)?.reason === 'Rejected', within);
      expect(readyOf(o).message).toMatch(
        /super streams need RabbitMQ 3\.11 or later; this broker runs 3\.10/,
      );
      expect((await ctx.broker.get(`/exchanges/${vh}/old`)).status).toBe(404);
      expect((await ctx.broker.get(`/queues/${vh}/old-0`)).status).toBe(404);
      await ctx.remove('rabbitsuperstreams', 'old');
      await ctx.waitGone('rabbitsuperstreams', 'old');
    },
  );

  it.runIf(process.env.WARREN_TEST_BROKER === '4.0' || process.env.WARREN_TEST_BROKER === '4.3')(
    'routes by routing key to its partitions, grows, and lists them in status',
    async () => {
      expect(supported()).toBe(true);
      await superStream('invoices', { routingKeys: ['amer', 'emea', 'apac'] });
      const s = await ready('invoices');
      expect(s.status).toMatchObject({
        exchange: 'invoices',
        partitions: ['invoices-amer', 'invoices-emea', 'invoices-apac'],
        partitionCount: 3,
      });
      const x = (await ctx.broker.get(`/exchanges/${vh}/invoices`)).body;
      expect(x).toMatchObject({ type: 'direct', durable: true, arguments: { 'x-super-stream': true } });
      const bindings = (await ctx.broker.get(`/exchanges/${vh}/invoices/bindings/source`)).body as any[];
      expect(
        bindings
          .map((bd) => [bd.destination, bd.routing_key, bd.arguments['x-stream-partition-order']])
          .sort((p, q) => p[2] - q[2]),
      ).toEqual([
        ['invoices-amer', 'amer', 0],
        ['invoices-emea', 'emea', 1],
        ['invoices-apac', 'apac', 2],
      ]);

      await publish(ctx.env, ctx.vhost, 'invoices', 'amer', ['a1', 'a2']);
      await publish(ctx.env, ctx.vhost, 'invoices', 'emea', ['e1']);
      await publish(ctx.env, ctx.vhost, 'invoices', 'apac', ['p1']);
      expect(await readStream(ctx.env, ctx.vhost, 'invoices-amer', 2)).toEqual(['a1', 'a2']);
      expect(await readStream(ctx.env, ctx.vhost, 'invoices-emea', 1)).toEqual(['e1']);
      expect(await readStream(ctx.env, ctx.vhost, 'invoices-apac', 1)).toEqual(['p1']);

      await ctx.patchSpec('rabbitsuperstreams', 'invoices', { routingKeys: ['amer', 'emea', 'apac', 'anz'] });
      const grown = await ready('invoices');
      expect(grown.status.partitions).toEqual([
        'invoices-amer',
        'invoices-emea',
        'invoices-apac',
        'invoices-anz',
      ]);
      await publish(ctx.env, ctx.vhost, 'invoices', 'anz', ['z1']);
      expect(await readStream(ctx.env, ctx.vhost, 'invoices-anz', 1)).toEqual(['z1']);
      // What was there is untouched.
      expect(await readStream(ctx.env, ctx.vhost, 'invoices-amer', 2)).toEqual(['a1', 'a2']);
    },
  );

  it.runIf(process.env.WARREN_TEST_BROKER === '4.0' || process.env.WARREN_TEST_BROKER === '4.3')(
    'puts back a partition deleted behind warren’s back, and deletes everything with the resource',
    async () => {
      await superStream('events', { partitions: 2, arguments: { 'x-max-length-bytes': 10_000_000 } });
      await ready('events');
      const q = (await ctx.broker.get(`/queues/${vh}/events-1`)).body;
      expect(q.arguments).toMatchObject({ 'x-queue-type': 'stream', 'x-max-length-bytes': 10_000_000 });
      expect(await ctx.broker.del(`/queues/${vh}/events-1`)).toBe(204);
      await eventually(
        () => ctx.broker.get(`/queues/${vh}/events-1`),
        (r) => r.status === 200,
        { ...within, what: 'partition put back by the survey' },
      );
      await eventually(
        () => ctx.broker.get(`/exchanges/${vh}/events/bindings/source`),
        (r) => r.body?.some((bd: any) => bd.destination === 'events-1'),
        { ...within, what: 'partition bound again' },
      );
      await ctx.remove('rabbitsuperstreams', 'events');
      await ctx.waitGone('rabbitsuperstreams', 'events');
      for (const path of [`/exchanges/${vh}/events`, `/queues/${vh}/events-0`, `/queues/${vh}/events-1`])
        expect((await ctx.broker.get(path)).status, path).toBe(404);
    },
  );
});
