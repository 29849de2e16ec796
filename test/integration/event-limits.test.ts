import * as k8s from '@kubernetes/client-node';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../support/context.ts';
import { forwardTo } from '../support/http-proxy.ts';
import { createBroker } from '../support/operator.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, readyOf } from '../support/wait.ts';

// The API server refuses an Event whose name is over 253 characters or whose note is over 1024
// bytes; warren's events were then lost without a trace. These read the events back.
let ctx: TestContext;
useOperator(import.meta.url, (c) => (ctx = c));

const b = { name: 'local' };
const type = 'ü'.repeat(600); // 1200 bytes

// The real broker behind a proxy that refuses every queue declaration with a reason of 600 ü, as
// 3.10 does for an unknown queue type (4.x answers that one with a bare 500): the same long
// non-ASCII reason whatever the broker's version.
let proxy: Server;
beforeAll(async () => {
  const t = new URL(ctx.env.managementUrl);
  proxy = createServer((req, res) => {
    if (req.method === 'PUT' && req.url?.startsWith('/api/queues/')) {
      req.resume();
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'bad_request', reason: `unknown queue type '${type}'` }));
      return;
    }
    forwardTo(t, req, res);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  await createBroker(ctx, 'echo', `http://127.0.0.1:${(proxy.address() as { port: number }).port}`);
});
afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((r) => proxy?.close(r));
});
const bytes = (s: string) => Buffer.byteLength(s);

async function eventsOf(name: string): Promise<k8s.EventsV1Event[]> {
  const api = ctx.kc.makeApiClient(k8s.EventsV1Api);
  const list = await api.listNamespacedEvent({ namespace: ctx.namespace });
  return list.items.filter((e) => e.regarding?.name === name);
}

describe('events the API server accepts', () => {
  it('reach the API server for a resource with a 253-character name', async () => {
    const name = `refused-${'q'.repeat(237)}-${'0123456'}`;
    expect(name).toHaveLength(253);
    await ctx.create('rabbitqueues', name, {
      brokerRef: b,
      vhost: ctx.vhost,
      arguments: { 'x-max-length': 'many' },
    });
    const [e] = await eventually(
      () => eventsOf(name),
      (l) => l.length > 0,
      { what: `the Rejected event of ${name}` },
    );
    expect(e!.reason).toBe('Rejected');
    expect(e!.type).toBe('Warning');
    expect(e!.note).toMatch(/x-max-length/);
    expect(e!.metadata!.name!.length).toBeLessThanOrEqual(253);
    expect(e!.regarding!.kind).toBe('RabbitQueue');
  });

  it('carry a broker reason over 1024 bytes of non-ASCII text, cut on a character and marked', async () => {
    const name = 'unknown-type';
    await ctx.create('rabbitqueues', name, { brokerRef: { name: 'echo' }, vhost: ctx.vhost });
    const q = await eventually(
      () => ctx.get('rabbitqueues', name),
      (x) => readyOf(x)?.reason === 'Rejected',
      { what: 'the queue Rejected' },
    );
    // The condition keeps the whole reason (its limit is 32 KiB): the event's note is its start.
    const message: string = readyOf(q).message;
    expect(message).toContain(type.slice(0, 100));
    expect(message.length).toBeLessThanOrEqual(1024);
    expect(bytes(message)).toBeGreaterThan(1024);
    const [e] = await eventually(
      () => eventsOf(name),
      (l) => l.length > 0,
      { what: `the Rejected event of ${name}` },
    );
    expect(e!.reason).toBe('Rejected');
    expect(bytes(e!.note!)).toBeLessThanOrEqual(1024);
    expect(bytes(e!.note!)).toBeGreaterThan(1020);
    expect(e!.note!.endsWith('…')).toBe(true);
    expect(message.startsWith(e!.note!.slice(0, -1))).toBe(true);
  });
});
