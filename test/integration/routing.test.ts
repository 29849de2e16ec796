import * as k8s from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { drain, publish } from '../support/amqp.ts';
import type { TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// Exchanges, bindings and policies, proven by what messages do.
let ctx: TestContext;
let vh: string;
useOperator(import.meta.url, (c) => {
  ctx = c;
  vh = enc(c.vhost);
});

const b = { name: 'local' };
const within = { timeoutMs: 30_000 };
const ready = (plural: string, name: string) =>
  eventually(() => ctx.get(plural, name), isReadyNow, { ...within, what: `${plural}/${name} Ready` });
const reason = (plural: string, name: string, want: string) =>
  eventually(
    () => ctx.get(plural, name),
    (o) => readyOf(o)?.reason === want,
    { ...within, what: `${plural}/${name} ${want}` },
  );
const exchange = (name: string, extra: Record<string, unknown> = {}) =>
  ctx.create('rabbitexchanges', name, { brokerRef: b, vhost: ctx.vhost, ...extra });
const queue = (name: string, extra: Record<string, unknown> = {}) =>
  ctx.create('rabbitqueues', name, { brokerRef: b, vhost: ctx.vhost, ...extra });
const binding = (name: string, spec: Record<string, unknown>) =>
  ctx.create('rabbitbindings', name, { brokerRef: b, vhost: ctx.vhost, ...spec });
const bindingsBetween = async (source: string, queueName: string) =>
  (await ctx.broker.get(`/bindings/${vh}/e/${enc(source)}/q/${enc(queueName)}`)).body as Array<{
    routing_key: string;
  }>;
const nextSecond = async () => {
  const s = Math.floor(Date.now() / 1000);
  while (Math.floor(Date.now() / 1000) === s) await sleep(50);
};

describe('RabbitExchange', () => {
  it('declares an exchange with its settings, and enforces what the broker cannot change', async () => {
    await exchange('ex-settings', { type: 'topic', arguments: { 'alternate-exchange': 'ae' } });
    const x = await ready('rabbitexchanges', 'ex-settings');
    expect(x.status.name).toBe('ex-settings');
    expect((await ctx.broker.get(`/exchanges/${vh}/ex-settings`)).body).toMatchObject({
      type: 'topic',
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: { 'alternate-exchange': 'ae' },
    });
    for (const change of [
      { type: 'direct' },
      { durable: false },
      { internal: true },
      { arguments: { 'alternate-exchange': 'other' } },
    ]) {
      const err = await ctx.patchSpec('rabbitexchanges', 'ex-settings', change).catch((e) => e);
      expect((err as k8s.ApiException<unknown>).code, JSON.stringify(change)).toBe(422);
    }
    const reserved = await exchange('reserved', { name: 'amq.mine' }).catch((e) => e);
    expect(String((reserved as k8s.ApiException<unknown>).body)).toContain("'amq.' are reserved");
  });

  it('reports an exchange type whose plugin is not enabled as Rejected, saying so', async () => {
    await exchange('ex-plugin', { type: 'x-no-such-plugin-type' });
    const x = await reason('rabbitexchanges', 'ex-plugin', 'Rejected');
    expect(readyOf(x).message).toMatch(/unknown exchange type.*plugin/);
  });

  it('deletes with Delete and keeps with Retain', async () => {
    await exchange('ex-gone');
    await exchange('ex-kept', { deletionPolicy: 'Retain' });
    await ready('rabbitexchanges', 'ex-gone');
    await ready('rabbitexchanges', 'ex-kept');
    for (const n of ['ex-gone', 'ex-kept']) await ctx.remove('rabbitexchanges', n);
    for (const n of ['ex-gone', 'ex-kept']) await ctx.waitGone('rabbitexchanges', n);
    expect((await ctx.broker.get(`/exchanges/${vh}/ex-gone`)).status).toBe(404);
    expect((await ctx.broker.get(`/exchanges/${vh}/ex-kept`)).status).toBe(200);
  });
});

describe('RabbitBinding and a topic exchange', () => {
  it('waits for its exchange and queue, then routes exactly what its key matches', async () => {
    // Bindings first: they wait for what they bind.
    await binding('eu', { source: 'events', destination: 'eu', routingKey: '*.eu' });
    await binding('us', { source: 'events', destination: 'us', routingKey: '*.us' });
    await binding('all', { source: 'events', destination: 'all', routingKey: '#' });
    await reason('rabbitbindings', 'eu', 'WaitingForDependency');
    await exchange('events', { type: 'topic' });
    for (const q of ['eu', 'us', 'all']) await queue(q);
    for (const n of ['eu', 'us', 'all']) await ready('rabbitbindings', n);

    await publish(ctx.env, ctx.vhost, 'events', 'order.eu', ['eu-1']);
    await publish(ctx.env, ctx.vhost, 'events', 'order.us', ['us-1']);
    await publish(ctx.env, ctx.vhost, 'events', 'order.asia', ['asia-1']);
    expect(await drain(ctx.env, ctx.vhost, 'eu')).toEqual(['eu-1']);
    expect(await drain(ctx.env, ctx.vhost, 'us')).toEqual(['us-1']);
    expect(await drain(ctx.env, ctx.vhost, 'all')).toEqual(['eu-1', 'us-1', 'asia-1']);
  });

  it('routes again after the queue is deleted and re-created in the broker, without touching the resources', async () => {
    expect(await ctx.broker.del(`/queues/${vh}/eu`)).toBe(204);
    // The survey puts the queue back; its creation wakes the binding, which binds it again.
    await eventually(
      () => bindingsBetween('events', 'eu'),
      (list) => list.some((x) => x.routing_key === '*.eu'),
      { ...within, what: 'binding back' },
    );
    await publish(ctx.env, ctx.vhost, 'events', 'order.eu', ['eu-2']);
    expect(await drain(ctx.env, ctx.vhost, 'eu')).toEqual(['eu-2']);
  });

  it('puts back a binding deleted in the broker (drift)', async () => {
    const [x] = (await ctx.broker.get(`/bindings/${vh}/e/events/q/us`)).body as Array<{
      properties_key: string;
    }>;
    expect(await ctx.broker.del(`/bindings/${vh}/e/events/q/us/${enc(x!.properties_key)}`)).toBe(204);
    await eventually(
      () => bindingsBetween('events', 'us'),
      (list) => list.length === 1,
      { ...within, what: 'binding back' },
    );
  });

  it('a changed routing key is a new binding: the old one is removed', async () => {
    await ctx.patchSpec('rabbitbindings', 'us', { routingKey: 'order.us' });
    await ready('rabbitbindings', 'us');
    expect((await bindingsBetween('events', 'us')).map((x) => x.routing_key)).toEqual(['order.us']);
    await publish(ctx.env, ctx.vhost, 'events', 'refund.us', ['refund']);
    await publish(ctx.env, ctx.vhost, 'events', 'order.us', ['order']);
    expect(await drain(ctx.env, ctx.vhost, 'us')).toEqual(['order']);
  });

  it('two resources declaring one binding are one claim; deleting the owner keeps the binding', async () => {
    await nextSecond();
    await binding('eu-again', { source: 'events', destination: 'eu', routingKey: '*.eu' });
    expect(readyOf(await reason('rabbitbindings', 'eu-again', 'Conflict')).message).toContain('/eu ');
    await ctx.remove('rabbitbindings', 'eu');
    await ctx.waitGone('rabbitbindings', 'eu');
    await ready('rabbitbindings', 'eu-again');
    expect((await bindingsBetween('events', 'eu')).map((x) => x.routing_key)).toEqual(['*.eu']);
    // The last one deletes it; Retain would have kept it.
    await ctx.remove('rabbitbindings', 'eu-again');
    await ctx.waitGone('rabbitbindings', 'eu-again');
    expect(await bindingsBetween('events', 'eu')).toEqual([]);
  });

  it('binds exchange to exchange, and headers bindings match on their arguments', async () => {
    await exchange('front', { type: 'fanout' });
    await exchange('by-header', { type: 'headers' });
    await queue('red');
    await binding('front-to-headers', {
      source: 'front',
      destination: 'by-header',
      destinationType: 'exchange',
    });
    await binding('red-only', {
      source: 'by-header',
      destination: 'red',
      arguments: { 'x-match': 'all', colour: 'red' },
    });
    for (const n of ['front-to-headers', 'red-only']) await ready('rabbitbindings', n);
    await publish(ctx.env, ctx.vhost, 'front', '', ['a red one'], { colour: 'red' });
    await publish(ctx.env, ctx.vhost, 'front', '', ['a blue one'], { colour: 'blue' });
    expect(await drain(ctx.env, ctx.vhost, 'red')).toEqual(['a red one']);
  });
});

describe('RabbitPolicy and RabbitOperatorPolicy', () => {
  /** The broker applies a policy to a queue asynchronously: wait until it reports it. */
  const effective = (q: string, field: 'policy' | 'operator_policy', name: string) =>
    eventually(
      async () => (await ctx.broker.get(`/queues/${vh}/${q}`)).body?.[field],
      (p) => p === name,
      { ...within, what: `${field} ${name} on ${q}` },
    );

  it('a policy with max-length 2 makes a declared queue drop its oldest messages', async () => {
    await queue('capped');
    await ready('rabbitqueues', 'capped');
    await ctx.create('rabbitpolicies', 'cap-two', {
      brokerRef: b,
      vhost: ctx.vhost,
      pattern: '^capped$',
      applyTo: 'queues',
      definition: { 'max-length': 2 },
    });
    const p = await ready('rabbitpolicies', 'cap-two');
    expect(p.status.name).toBe('cap-two');
    await ready('rabbitqueues', 'capped');
    await effective('capped', 'policy', 'cap-two');
    await publish(ctx.env, ctx.vhost, '', 'capped', ['1', '2', '3', '4', '5']);
    expect(await drain(ctx.env, ctx.vhost, 'capped')).toEqual(['4', '5']);
  });

  it('an operator policy caps a limit a user policy sets higher', async () => {
    // The queue exists before the policies. Once (3.10, loaded machine), a queue declared at the
    // same moment as a policy matching it showed no effective policy for 30 s: not understood yet
    // (noted on the issue), and not what this test is about.
    await queue('opcap');
    await ready('rabbitqueues', 'opcap');
    await ctx.create('rabbitpolicies', 'generous', {
      brokerRef: b,
      vhost: ctx.vhost,
      pattern: '^opcap$',
      definition: { 'max-length': 10 },
    });
    await ctx.create('rabbitoperatorpolicies', 'strict', {
      brokerRef: b,
      vhost: ctx.vhost,
      pattern: '^opcap$',
      definition: { 'max-length': 3 },
    });
    for (const [plural, n] of [
      ['rabbitpolicies', 'generous'],
      ['rabbitoperatorpolicies', 'strict'],
      ['rabbitqueues', 'opcap'],
    ] as const)
      await ready(plural, n);
    await effective('opcap', 'policy', 'generous');
    await effective('opcap', 'operator_policy', 'strict');
    await publish(ctx.env, ctx.vhost, '', 'opcap', ['1', '2', '3', '4', '5', '6']);
    expect(await drain(ctx.env, ctx.vhost, 'opcap')).toEqual(['4', '5', '6']);
  });

  it('updates a changed definition, puts back a deleted policy, and deletes with the resource', async () => {
    await ctx.patchSpec('rabbitpolicies', 'cap-two', { definition: { 'max-length': 4 }, priority: 5 });
    await ready('rabbitpolicies', 'cap-two');
    expect((await ctx.broker.get(`/policies/${vh}/cap-two`)).body).toMatchObject({
      definition: { 'max-length': 4 },
      priority: 5,
    });
    expect(await ctx.broker.del(`/policies/${vh}/cap-two`)).toBe(204);
    await eventually(
      () => ctx.broker.get(`/policies/${vh}/cap-two`),
      (r) => r.status === 200,
      { ...within, what: 'policy back' },
    );
    await ctx.remove('rabbitpolicies', 'cap-two');
    await ctx.waitGone('rabbitpolicies', 'cap-two');
    expect((await ctx.broker.get(`/policies/${vh}/cap-two`)).status).toBe(404);
  });

  it('applies to queue types only where the broker version allows it', async () => {
    await ctx.create('rabbitpolicies', 'quorum-only', {
      brokerRef: b,
      vhost: ctx.vhost,
      pattern: '^qq',
      applyTo: 'quorum_queues',
      definition: { 'delivery-limit': 5 },
    });
    const [major, minor] = ctx.env.rabbitmqVersion.split('.').map(Number) as [number, number];
    if (major > 3 || minor >= 12) {
      await ready('rabbitpolicies', 'quorum-only');
      expect((await ctx.broker.get(`/policies/${vh}/quorum-only`)).body['apply-to']).toBe('quorum_queues');
    } else {
      const p = await reason('rabbitpolicies', 'quorum-only', 'Rejected');
      expect(readyOf(p).message).toContain('3.12');
    }
  });

  it('reports a definition key the broker does not know as Rejected, with its reason', async () => {
    await ctx.create('rabbitoperatorpolicies', 'bogus', {
      brokerRef: b,
      vhost: ctx.vhost,
      pattern: '.*',
      definition: { 'no-such-key': 1 },
    });
    const p = await reason('rabbitoperatorpolicies', 'bogus', 'Rejected');
    expect(readyOf(p).message).toMatch(/not recognised/);
    const empty = await ctx
      .create('rabbitpolicies', 'empty', { brokerRef: b, vhost: ctx.vhost, pattern: '.*', definition: {} })
      .catch((e) => e);
    expect((empty as k8s.ApiException<unknown>).code).toBe(422);
  });
});

describe.each([
  ['rabbitexchanges', 'exchanges', { type: 'fanout' }],
  ['rabbitpolicies', 'policies', { pattern: '^none$', definition: { 'max-length': 7 } }],
  ['rabbitoperatorpolicies', 'operator-policies', { pattern: '^none$', definition: { 'max-length': 7 } }],
] as const)('%s: the rules every kind follows', (plural, path, fields) => {
  const short = plural.slice('rabbit'.length, 'rabbit'.length + 4);
  it('waits for its vhost, one of two declarations owns the object, and Retain keeps it', async () => {
    const vhost = `${ctx.namespace}-${short}`;
    const spec = (extra: Record<string, unknown> = {}) => ({
      brokerRef: b,
      vhost,
      name: 'shared',
      ...fields,
      ...extra,
    });
    const inBroker = () => ctx.broker.get(`/${path}/${enc(vhost)}/shared`);
    // Declared before its vhost: it waits, then turns Ready when the vhost appears.
    await ctx.create(plural, `${short}-first`, spec());
    await reason(plural, `${short}-first`, 'WaitingForDependency');
    await ctx.create('rabbitvhosts', `vh-${short}`, { brokerRef: b, name: vhost });
    await ready(plural, `${short}-first`);
    await nextSecond();
    await ctx.create(plural, `${short}-second`, spec({ deletionPolicy: 'Retain' }));
    await reason(plural, `${short}-second`, 'Conflict');
    // Deleting the owner hands the object over; the other, with Retain, keeps it on deletion.
    await ctx.remove(plural, `${short}-first`);
    await ctx.waitGone(plural, `${short}-first`);
    await ready(plural, `${short}-second`);
    expect((await inBroker()).status).toBe(200);
    await ctx.remove(plural, `${short}-second`);
    await ctx.waitGone(plural, `${short}-second`);
    expect((await inBroker()).status).toBe(200);
    await ctx.broker.del(`/vhosts/${enc(vhost)}`);
    await ctx.remove('rabbitvhosts', `vh-${short}`);
  });
});
