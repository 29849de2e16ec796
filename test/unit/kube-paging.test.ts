import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kube } from '../../src/runtime/kube.ts';
import { KubeConfig } from '../../src/runtime/kubeconfig.ts';

// What the API server does with continue tokens, from a local HTTP server: an expired token
// (410 Expired, after etcd compacted the snapshot) restarts the list; an endless one is bounded.
let server: Server;
let kube: Kube;
let mode: 'expire-once' | 'endless' = 'expire-once';
let expired = false;
const queries: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const q = new URL(req.url!, 'http://x').searchParams;
    queries.push(q.toString());
    const page = Number(q.get('continue') ?? 0);
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (mode === 'expire-once' && page === 2 && !expired) {
      expired = true;
      return send(410, { kind: 'Status', code: 410, reason: 'Expired', message: 'continue token expired' });
    }
    const last = mode === 'expire-once' && page === 3;
    send(200, {
      metadata: { resourceVersion: expired ? '20' : '10', ...(last ? {} : { continue: String(page + 1) }) },
      items: [{ page }],
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  kube = new Kube(
    new KubeConfig({
      server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      token: 't',
      source: 'test',
    }),
  );
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('Kube.listPaged', () => {
  it('starts again from the first page when a continue token expired, and keeps no page twice', async () => {
    const l = await kube.listPaged<{ page: number }>('/api/v1/configmaps', { pageSize: 1 });
    expect(l.items.map((i) => i.page)).toEqual([0, 1, 2, 3]);
    expect(l.metadata?.resourceVersion).toBe('20');
    expect(queries.every((q) => q.includes('limit=1'))).toBe(true);
  });

  it('hands each item to `each` before the next page is asked for', async () => {
    mode = 'expire-once';
    expired = true;
    const seen: string[] = [];
    queries.length = 0;
    await kube.listPaged<{ page: number }>('/api/v1/configmaps', {
      pageSize: 1,
      each: (i) => seen.push(`item ${i.page} after ${queries.length} requests`),
    });
    expect(seen).toEqual([
      'item 0 after 1 requests',
      'item 1 after 2 requests',
      'item 2 after 3 requests',
      'item 3 after 4 requests',
    ]);
  });

  it('gives up on a list that never ends', async () => {
    mode = 'endless';
    await expect(kube.listPaged('/api/v1/configmaps', { pageSize: 1, maxPages: 20 })).rejects.toThrow(
      /more than 20 pages/,
    );
  });
});
