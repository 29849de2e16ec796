import fc from 'fast-check';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagementClient, ManagementError } from '../../src/rabbitmq/index.ts';
import { MAX_REASON_CHARS } from '../../src/rabbitmq/errors.ts';

// Whatever a management endpoint answers (any status, any body, JSON of any shape or none), the
// client returns a value or throws a ManagementError with a bounded message that carries no
// credential: never a TypeError from a shape it assumed, never a hang. Property-based, bounded runs.
let server: Server;
let answer: { status: number; body: string } = { status: 200, body: '[]' };
let client: ManagementClient;
const PASSWORD = 'fuzz-Secret-pw';

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  client = new ManagementClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    username: 'admin',
    password: PASSWORD,
    timeoutMs: 5000,
  });
});
afterAll(async () => {
  await client.close();
  await new Promise<void>((r) => server.close(() => r()));
});

const calls: Array<[string, (c: ManagementClient) => Promise<unknown>]> = [
  ['overview', (c) => c.overview()],
  ['getVhost', (c) => c.getVhost('v')],
  ['listVhosts', (c) => c.listVhosts()],
  ['getUser', (c) => c.getUser('u')],
  ['listUsers', (c) => c.listUsers()],
  ['listQueues', (c) => c.listQueues('v')],
  ['getExchange', (c) => c.getExchange('v', 'x')],
  ['listExchanges', (c) => c.listExchanges('v')],
  ['listBindings', (c) => c.listBindings('v')],
  ['listPolicies', (c) => c.listPolicies('policy')],
  ['getVhostLimits', (c) => c.getVhostLimits('v')],
  ['putQueue', (c) => c.putQueue('v', 'q', { durable: true, auto_delete: false, arguments: {} })],
  ['deleteUser', (c) => c.deleteUser('u')],
];

const row = fc.dictionary(
  fc.constantFrom(
    'name',
    'vhost',
    'type',
    'durable',
    'auto_delete',
    'arguments',
    'tags',
    'definition',
    'value',
    'limits',
    'reason',
    'error',
    'messages',
    'x',
  ),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 8 },
);
const body = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.array(row, { maxLength: 5 }).map((rows) => JSON.stringify(rows)),
  row.map((r) => JSON.stringify(r)),
  fc
    .record({
      error: fc.oneof(fc.string(), fc.array(fc.integer({ min: -5, max: 0x110000 }))),
      reason: fc.jsonValue(),
    })
    .map((r) => JSON.stringify(r)),
  fc.string({ maxLength: 300 }),
  fc.constant(`{"reason":"amqp://admin:${PASSWORD}@h ${'r'.repeat(5000)}`),
);
const status = fc.constantFrom(200, 201, 204, 301, 400, 401, 404, 406, 412, 500, 503);

describe('management answers of any shape', () => {
  it('give a value or a ManagementError, bounded and without credentials', async () => {
    await fc.assert(
      fc.asyncProperty(status, body, fc.integer({ min: 0, max: calls.length - 1 }), async (s, b, i) => {
        answer = { status: s, body: b };
        client.resetCapabilities();
        const [, call] = calls[i]!;
        try {
          await call(client);
        } catch (err) {
          expect(err).toBeInstanceOf(ManagementError);
          const m = (err as ManagementError).message;
          expect(m.length).toBeLessThan(MAX_REASON_CHARS + 400);
          expect(m).not.toContain(PASSWORD);
          expect(m).not.toContain(Buffer.from(`admin:${PASSWORD}`).toString('base64'));
        }
      }),
      { numRuns: 400 },
    );
  }, 60_000);
});
