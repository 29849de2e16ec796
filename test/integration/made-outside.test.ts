import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain, publish } from '../support/amqp.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { aSurveyStartedNow, createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// What a resource waits for is sometimes made outside warren: a user by hand, an exchange by the
// application that publishes to it. No resource declares it, so none wakes the waiting one; the
// broker survey (every 5 s here) does. Retries here start at 60 s, so a resource Ready within 30 s
// of the object's appearance was woken by the survey, not by its backoff.
let ctx: TestContext;
let op: RunningOperator | undefined;
let carol: string;
const b = { name: 'local' };
const within = { timeoutMs: 30_000 };
const reason = (plural: string, name: string, want: string) =>
  eventually(
    () => ctx.get(plural, name),
    (o) => readyOf(o)?.reason === want,
    { ...within, what: `${plural}/${name} ${want}` },
  );

/**
 * Resolves after a survey that started after now has ended. A resource just written
 * WaitingForDependency may still be reconciled once more by what its own writes set off (ms
 * later); after a survey interval, only its backoff (60 s) or a wake-up reconciles it again, so
 * an object made then tests the wake-up.
 */
const aSurveyLater = () => aSurveyStartedNow(ctx);

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  carol = `${ctx.namespace}-carol`;
  await createBroker(ctx);
  op = await startOperator(ctx, { resyncMs: 3_600_000, newWaitHoldMs: 0, retryBaseDelayMs: 60_000 });
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await ctx?.broker.del(`/users/${enc(carol)}`);
  await ctx?.cleanup();
});

describe('waiting for an object made outside warren', () => {
  it('a permission for a user made by hand is granted once a survey sees the user', async () => {
    await ctx.create('rabbitpermissions', 'carol', {
      brokerRef: b,
      vhost: ctx.vhost,
      user: carol,
      configure: '',
      write: '',
      read: '.*',
    });
    await reason('rabbitpermissions', 'carol', 'WaitingForDependency');
    await aSurveyLater();
    expect(await ctx.broker.put(`/users/${enc(carol)}`, { password: 'carol-pw', tags: '' })).toBe(201);
    await eventually(() => ctx.get('rabbitpermissions', 'carol'), isReadyNow, {
      ...within,
      what: 'carol Ready',
    });
    expect((await ctx.broker.get(`/permissions/${enc(ctx.vhost)}/${enc(carol)}`)).body).toMatchObject({
      configure: '',
      read: '.*',
    });
  });

  it('a binding from an exchange the application declares routes its messages once a survey sees it', async () => {
    await ctx.create('rabbitqueues', 'audit', { brokerRef: b, vhost: ctx.vhost, name: 'audit' });
    await ctx.create('rabbitbindings', 'audit-events', {
      brokerRef: b,
      vhost: ctx.vhost,
      source: 'app.events',
      destination: 'audit',
      routingKey: 'order.#',
    });
    await reason('rabbitbindings', 'audit-events', 'WaitingForDependency');
    await aSurveyLater();

    // The application starts and declares its exchange.
    const u = new URL(ctx.env.amqpUrl);
    const conn = await amqp.connect(
      `amqp://${enc(ctx.env.adminUser)}:${enc(ctx.env.adminPassword)}@${u.host}/${enc(ctx.vhost)}`,
    );
    try {
      await (await conn.createChannel()).assertExchange('app.events', 'topic', { durable: true });
    } finally {
      await conn.close();
    }
    await eventually(() => ctx.get('rabbitbindings', 'audit-events'), isReadyNow, {
      ...within,
      what: 'audit-events Ready',
    });
    await publish(ctx.env, ctx.vhost, 'app.events', 'order.created', ['order 1']);
    await publish(ctx.env, ctx.vhost, 'app.events', 'invoice.sent', ['invoice 1']);
    expect(await drain(ctx.env, ctx.vhost, 'audit')).toEqual(['order 1']);
  });
});
