import { pino } from 'pino';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Recorder } from '../../src/runtime/events.ts';
import { corePath, customPath, Kube } from '../../src/runtime/kube.ts';
import { KubeConfig } from '../../src/runtime/kubeconfig.ts';

// Kube's clients against a local HTTP server standing in for the API server: what reaches it
// while the fence is closed and while it is open.
let server: Server;
let kc: KubeConfig;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url?.split('?')[0]}`);
    req.resume();
    req.on('end', () =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: [] })),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  kc = new KubeConfig({
    server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: 't',
    source: 'test',
  });
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  seen.length = 0;
});

const ref = { plural: 'rabbitqueues', namespace: 'ns', name: 'q' };
const obj = {
  apiVersion: 'warren.dev/v1alpha1',
  kind: 'RabbitQueue',
  metadata: { name: 'q', namespace: 'ns', uid: 'u' },
  spec: {},
} as any;

describe('Kube fencing', () => {
  it('cuts off a write in flight when the leadership signal aborts', async () => {
    const held: string[] = [];
    const closed: string[] = [];
    const slow = createServer((req) => {
      held.push(`${req.method} ${req.url}`);
      req.socket.on('close', () => closed.push(`${req.method} ${req.url}`)); // never answered
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    try {
      const kc2 = new KubeConfig({
        server: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`,
        token: 't',
        source: 'test',
      });
      const term = new AbortController();
      const kube = new Kube(kc2, { canWrite: () => true, writeSignal: () => term.signal });
      const patch = kube.patchStatus(ref, { x: 1 });
      const rejected = expect(patch).rejects.toThrow();
      for (let i = 0; i < 200 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(held).toHaveLength(1);
      term.abort(new Error('leadership ended'));
      await rejected;
      for (let i = 0; i < 200 && closed.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(closed).toEqual(held);
    } finally {
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  });

  it('refuses status patches, finalizer patches, Secret writes and events while not the leader; reads pass', async () => {
    const kube = new Kube(kc, { canWrite: () => false });
    await expect(kube.patchStatus(ref, { x: 1 })).rejects.toThrow(/not the leader: write refused/);
    await expect(kube.jsonPatch(ref, [])).rejects.toThrow(/not the leader/);
    await expect(kube.create(corePath('secrets', 'ns'), { metadata: { name: 's' } })).rejects.toThrow(
      /not the leader/,
    );
    await new Recorder(kube, 'me', pino({ level: 'silent' })).emit(obj, 'Normal', 'R', 'A', 'n');
    expect(seen).toEqual([]); // nothing left the process
    await kube.list(customPath('rabbitqueues', 'ns'));
    expect(seen).toEqual(['GET /apis/warren.dev/v1alpha1/namespaces/ns/rabbitqueues']);
  });

  it('lets writes through while leading and logs each one (method and path)', async () => {
    const lines: any[] = [];
    const log = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _e, cb) {
          lines.push(JSON.parse(String(chunk)));
          cb();
        },
      }),
    );
    let leading = true;
    const kube = new Kube(kc, { canWrite: () => leading, log });
    await kube.patchStatus(ref, { x: 1 });
    await new Recorder(kube, 'me', log).emit(obj, 'Normal', 'R', 'A', 'n');
    expect(seen).toEqual([
      'PATCH /apis/warren.dev/v1alpha1/namespaces/ns/rabbitqueues/q/status',
      'POST /apis/events.k8s.io/v1/namespaces/ns/events',
    ]);
    const writes = lines.filter((l) => l.msg === 'kubernetes write');
    expect(writes.map((w) => `${w.method} ${w.path}`)).toEqual(seen);
    leading = false;
    await expect(kube.patchStatus(ref, { x: 2 })).rejects.toThrow(/not the leader/);
    expect(seen).toHaveLength(2);
  });
});
