import * as k8s from '@kubernetes/client-node';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { drain, publish } from '../support/amqp.ts';
import type { TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// Deletions that depend on what is in the broker: a queue's deleteIfEmpty, a vhost's queues that
// no resource declares. Each scenario publishes a real message just before the deletion and reads
// it back afterwards: the broker's message counters lag by the stats interval, the message must
// not.
let ctx: TestContext;
let ns: string;
const kept: string[] = []; // broker vhosts a test leaves behind on purpose
useOperator(
  import.meta.url,
  (c) => {
    ctx = c;
    ns = c.namespace;
  },
  {
    cleanup: async (c) => {
      for (const v of kept) await c.broker.del(`/vhosts/${enc(v)}`);
    },
  },
);

const b = { name: 'local' };
const ready = (plural: string, name: string) =>
  eventually(() => ctx.get(plural, name), isReadyNow, { what: `${plural}/${name} Ready` });
const reason = (plural: string, name: string, want: string) =>
  eventually(
    () => ctx.get(plural, name),
    (o) => readyOf(o)?.reason === want,
    { what: `${plural}/${name} ${want}` },
  );
const events = async () =>
  (await ctx.kc.makeApiClient(k8s.EventsV1Api).listNamespacedEvent({ namespace: ns })).items;
const eventFor = (name: string, why: string) =>
  eventually(events, (list) => list.some((e) => e.regarding?.name === name && e.reason === why), {
    what: `event ${why} for ${name}`,
  }).then((list) => list.find((e) => e.regarding?.name === name && e.reason === why)!);
const queueIn = (vhost: string, name: string) => ctx.broker.get(`/queues/${enc(vhost)}/${enc(name)}`);

/** An AMQP connection to a vhost as the test's admin user. */
async function connect(vhost: string) {
  const u = new URL(ctx.env.amqpUrl);
  const user = encodeURIComponent(ctx.env.adminUser);
  const password = encodeURIComponent(ctx.env.adminPassword);
  const conn = await amqp.connect(`amqp://${user}:${password}@${u.host}/${encodeURIComponent(vhost)}`);
  // Deleting the vhost closes it from the broker's side: expected, not a failure of the test.
  conn.on('error', () => undefined);
  return conn;
}

describe('a RabbitQueue with deleteIfEmpty', () => {
  it('quorum: a message published just before the deletion holds it (DeleteFailed) and is still there; drained, the queue goes', async () => {
    await ctx.create('rabbitqueues', 'qq', {
      brokerRef: b,
      vhost: ctx.vhost,
      type: 'quorum',
      deleteIfEmpty: true,
    });
    await ready('rabbitqueues', 'qq');
    // Confirmed by the broker, and at once deleted: the queue's `messages` counter still says 0.
    await publish(ctx.env, ctx.vhost, '', 'qq', ['published just before']);
    await ctx.remove('rabbitqueues', 'qq');

    const held = await reason('rabbitqueues', 'qq', 'DeleteFailed');
    expect(readyOf(held).message).toMatch(/quorum queue 'qq' .*deleteIfEmpty/);
    expect(await drain(ctx.env, ctx.vhost, 'qq')).toEqual(['published just before']);

    // Empty now: the held deletion, retried, goes through.
    await ctx.waitGone('rabbitqueues', 'qq', 60_000);
    expect((await queueIn(ctx.vhost, 'qq')).status).toBe(404);
  });

  it('stream (from the vhost default type): the deletion is held, the stream and its message kept; without deleteIfEmpty it goes', async () => {
    const vhost = `${ns}-streams`;
    kept.push(vhost);
    await ctx.create('rabbitvhosts', 'vh-streams', { brokerRef: b, name: vhost, defaultQueueType: 'stream' });
    await ready('rabbitvhosts', 'vh-streams');
    await ctx.create('rabbitqueues', 'events', { brokerRef: b, vhost, deleteIfEmpty: true });
    await ready('rabbitqueues', 'events');
    expect((await queueIn(vhost, 'events')).body.type).toBe('stream');
    await publish(ctx.env, vhost, '', 'events', ['kept in the stream']);
    await ctx.remove('rabbitqueues', 'events');

    const held = await reason('rabbitqueues', 'events', 'DeleteFailed');
    expect(readyOf(held).message).toContain("queue 'events' is a stream and deleteIfEmpty is set");
    await eventually(
      () => queueIn(vhost, 'events'),
      (r) => r.status === 200 && r.body.messages === 1,
      { what: 'the stream still holds its message', timeoutMs: 30_000 },
    );

    // The way out the message names: deleteIfEmpty removed, the stream is deleted.
    await ctx.patchSpec('rabbitqueues', 'events', { deleteIfEmpty: null });
    await ctx.waitGone('rabbitqueues', 'events', 60_000);
    expect((await queueIn(vhost, 'events')).status).toBe(404);
  });

  it('an explicit stream with deleteIfEmpty is refused by the API server', async () => {
    const err = await ctx
      .create('rabbitqueues', 'stream-if-empty', {
        brokerRef: b,
        vhost: ctx.vhost,
        type: 'stream',
        deleteIfEmpty: true,
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(k8s.ApiException);
    expect((err as k8s.ApiException<unknown>).code).toBe(422);
    expect(String((err as k8s.ApiException<unknown>).body)).toContain('a stream keeps its messages');
  });
});

describe('a RabbitVhost holding queues no resource declares', () => {
  it('a durable server-named queue (amq.gen-...) with a message keeps the vhost', async () => {
    const vhost = `${ns}-gen`;
    kept.push(vhost);
    await ctx.create('rabbitvhosts', 'vh-gen', { brokerRef: b, name: vhost });
    await ready('rabbitvhosts', 'vh-gen');
    // A client lets the broker name its queue, durable, then goes: the queue and its message stay.
    const conn = await connect(vhost);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { durable: true, exclusive: false, autoDelete: false });
    await conn.close();
    expect(queue).toMatch(/^amq\.gen-/);
    await publish(ctx.env, vhost, '', queue, ['in a server-named queue']);

    await ctx.remove('rabbitvhosts', 'vh-gen');
    await ctx.waitGone('rabbitvhosts', 'vh-gen');
    expect((await eventFor('vh-gen', 'Kept')).note).toContain(`'${queue}'`);
    expect((await ctx.broker.get(`/vhosts/${enc(vhost)}`)).status).toBe(200);
    expect(await drain(ctx.env, vhost, queue)).toEqual(['in a server-named queue']);
  });

  it('exclusive queues of a live connection, server-named or not, do not keep it: they go with their connection', async () => {
    const vhost = `${ns}-excl`;
    kept.push(vhost);
    await ctx.create('rabbitvhosts', 'vh-excl', { brokerRef: b, name: vhost });
    await ready('rabbitvhosts', 'vh-excl');
    const conn = await connect(vhost);
    const closed = new Promise((resolve) => conn.on('close', resolve));
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.assertQueue('reply-7', { exclusive: true });
    expect((await queueIn(vhost, queue)).body.exclusive).toBe(true);

    await ctx.remove('rabbitvhosts', 'vh-excl');
    await ctx.waitGone('rabbitvhosts', 'vh-excl');
    expect((await eventFor('vh-excl', 'Deleted')).type).toBe('Normal');
    expect((await ctx.broker.get(`/vhosts/${enc(vhost)}`)).status).toBe(404);
    await closed;
  });
});
