import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { createBroker } from '../support/operator.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// A management endpoint that is not a broker, or a broken one: every answer is an error with a
// 1 MB reason (under /reason), or a success with a 100 MB body (under /huge). warren must stay
// live, keep converging on the healthy broker, and say on the hostile broker's resources why.
let ctx: TestContext;
useOperator(import.meta.url, (c) => {
  ctx = c;
});

const SECRET_IN_REASON = 'hostile-s3cret-in-uri';
let server: Server;
let url: string;
const served = { reason: 0, huge: 0 };

function startHostile(): Promise<void> {
  const reason = `amqp://bob:${SECRET_IN_REASON}@elsewhere/vh ` + 'é'.repeat(512 * 1024);
  const reasonBody = JSON.stringify({ error: 'bad_request', reason });
  const chunk = Buffer.alloc(1 << 20, 'x');
  server = createServer((req, res) => {
    if (req.url?.startsWith('/reason/')) {
      served.reason++;
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(reasonBody);
      return;
    }
    served.huge++;
    res.writeHead(200, { 'content-type': 'application/json' });
    // 100 MB, written as the client reads it (no 100 MB buffer here either).
    let left = 100;
    const pump = () => {
      while (left > 0) {
        left--;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('error', () => undefined);
    pump();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      resolve();
    }),
  );
}

beforeAll(async () => {
  await startHostile();
  await createBroker(ctx, 'reason', `${url}/reason`);
  await createBroker(ctx, 'huge', `${url}/huge`);
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await ctx?.broker.del(`/vhosts/${enc(`${ctx.vhost}-healthy`)}`);
  await ctx?.broker.del(`/vhosts/${enc(`${ctx.vhost}-after`)}`);
});

describe('a management endpoint that answers with huge bodies', () => {
  it('stays live, converges on the healthy broker, and says why on the hostile ones', async () => {
    await ctx.create('rabbitvhosts', 'on-reason', { brokerRef: { name: 'reason' }, name: ctx.vhost });
    await ctx.create('rabbitvhosts', 'on-huge', { brokerRef: { name: 'huge' }, name: ctx.vhost });
    await ctx.create('rabbitvhosts', 'healthy', {
      brokerRef: { name: 'local' },
      name: `${ctx.vhost}-healthy`,
    });

    await eventually(() => ctx.get('rabbitvhosts', 'healthy'), isReadyNow, { what: 'healthy vhost Ready' });
    expect((await ctx.broker.get(`/vhosts/${enc(`${ctx.vhost}-healthy`)}`)).status).toBe(200);

    for (const [broker, says] of [
      ['reason', /amqp:\/\/bob:\*\*\*@elsewhere/],
      ['huge', /answer larger than \d+ bytes/],
    ] as const) {
      const b = await eventually(
        () => ctx.get('rabbitbrokers', broker),
        (o) => readyOf(o)?.status === 'False' && says.test(readyOf(o).message),
        { what: `broker ${broker} says why` },
      );
      const message: string = readyOf(b).message;
      expect(message.length).toBeLessThan(2_200);
      expect(message).not.toContain(SECRET_IN_REASON);
      // Its dependents say the broker is not usable, rather than nothing.
      const v = await eventually(
        () => ctx.get('rabbitvhosts', `on-${broker}`),
        (o) => readyOf(o)?.status === 'False',
        { what: `vhost on ${broker} not Ready` },
      );
      expect(readyOf(v).message.length).toBeLessThan(2_200);
      expect(JSON.stringify(v.status)).not.toContain(SECRET_IN_REASON);
    }
    expect(served.reason).toBeGreaterThan(0);
    expect(served.huge).toBeGreaterThan(0);

    // Still converging while the hostile endpoints keep answering.
    await ctx.create('rabbitvhosts', 'after', { brokerRef: { name: 'local' }, name: `${ctx.vhost}-after` });
    await eventually(() => ctx.get('rabbitvhosts', 'after'), isReadyNow, { what: 'a later vhost Ready' });
  });
});
