import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain, publish } from '../support/amqp.ts';
import { testContext, type TestContext } from '../support/context.ts';
import type { EnvironmentInfo } from '../support/environment.ts';
import { mgmt, type Mgmt } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { startBroker, type Broker } from '../support/rabbitmq.ts';
import { eventually, isReadyNow } from '../support/wait.ts';

// With objects declared in eight vhosts the survey reads queues, exchanges and bindings broker-wide,
// one request each; when other vhosts hold more rows than those eight, it reads per vhost. Either
// way it finds a binding deleted behind warren's back, and the binding routes again. A broker of
// its own: what the shared broker's other vhosts hold would decide the mode.
let ctx: TestContext;
let op: RunningOperator;
let broker: Broker;
let admin: Mgmt;
let amqpEnv: EnvironmentInfo;
const VHOSTS = Array.from({ length: 8 }, (_, i) => `w${i}`);
const within = { timeoutMs: 30_000, intervalMs: 200 };

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  broker = await startBroker(join(ctx.env.dir, `broker-${ctx.namespace}`));
  admin = mgmt(broker.managementUrl, broker.username, broker.password);
  amqpEnv = { amqpUrl: broker.amqpUrl, adminUser: broker.username, adminPassword: broker.password } as never;
  await createBroker(ctx, 'own', broker.managementUrl, '5s', {
    username: broker.username,
    password: broker.password,
  });
  op = await startOperator(ctx, { resyncMs: 3_600_000 });
  const b = { name: 'own' };
  for (const v of VHOSTS) {
    await ctx.create('rabbitvhosts', v, { brokerRef: b, name: v });
    await ctx.create('rabbitqueues', `${v}-q`, { brokerRef: b, vhost: v, name: 'q' });
    await ctx.create('rabbitexchanges', `${v}-x`, { brokerRef: b, vhost: v, name: 'x', type: 'topic' });
    await ctx.create('rabbitbindings', `${v}-b`, {
      brokerRef: b,
      vhost: v,
      source: 'x',
      destination: 'q',
      routingKey: 'k.#',
    });
  }
  for (const v of VHOSTS)
    for (const [plural, name] of [
      ['rabbitvhosts', v],
      ['rabbitqueues', `${v}-q`],
      ['rabbitexchanges', `${v}-x`],
      ['rabbitbindings', `${v}-b`],
    ] as const)
      await eventually(() => ctx.get(plural, name), isReadyNow, {
        ...within,
        what: `${plural}/${name} Ready`,
      });
}, 180_000);
afterAll(async () => {
  await op?.stop();
  await broker?.stop();
  await ctx?.cleanup();
});

const survey = () => ctx.get('rabbitbrokers', 'own').then((o) => o.status?.survey);
/** A survey of all 32 resources with nothing drifted and this many requests. */
const surveyWith = (requests: number) =>
  eventually(survey, (s) => s?.managed === 32 && s.drifted === 0 && s.requests === requests, {
    ...within,
    what: `a survey of 32 resources in sync with ${requests} requests`,
  });

/** Deletes vhost v's binding in the broker, waits for it to be back, and routes a message through it. */
async function bindingRepaired(v: string) {
  expect(await admin.del(`/bindings/${v}/e/x/q/q/k.%23`)).toBe(204);
  await eventually(
    () => admin.get(`/bindings/${v}/e/x/q/q`),
    (r) => r.status === 200 && r.body.length === 1,
    { ...within, what: `the binding in ${v} back` },
  );
  await publish(amqpEnv, v, 'x', 'k.1', [`through ${v}`]);
  expect(await drain(amqpEnv, v, 'q')).toEqual([`through ${v}`]);
}

describe('survey of many vhosts', () => {
  it('reads the vhost tables broker-wide: one request per table, not one per vhost', async () => {
    // The marker, nine broker-wide lists, and queues, exchanges and bindings of the whole broker.
    await surveyWith(13);
    await bindingRepaired('w5');
  });

  it('reads them per vhost while other vhosts hold more rows than the declared ones', async () => {
    expect(await admin.put('/vhosts/bulk', {})).toBe(201);
    for (let i = 0; i < 40; i++)
      expect(await admin.put(`/queues/bulk/other-${i}`, { durable: true })).toBe(201);
    // The marker, nine broker-wide lists, and three lists for each of the eight vhosts.
    await surveyWith(1 + 9 + 3 * 8);
    await bindingRepaired('w2');
    // The other vhost's queues are not counted as unmanaged: it was not read.
    expect((await survey()).unmanaged).toBeLessThan(40);
  });
});
