import { pino } from 'pino';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerRegistry, type BrokerResource } from '../../src/kinds/brokers.ts';
import { makeMetrics } from '../../src/runtime/metrics.ts';
import type { SecretCache } from '../../src/runtime/secrets.ts';
import {
  ClientClosedError,
  ManagementClient,
  ManagementError,
  WriteRefusedError,
} from '../../src/rabbitmq/index.ts';

// The management client's transport against a real local HTTP server whose misbehaviour each
// test chooses: a keep-alive connection closed under a request, a body cut short, no answer.

type Handler = (req: IncomingMessage, res: ServerResponse, nthOnSocket: number) => void;

interface TestServer {
  url: string;
  /** Requests that reached the server, as "METHOD /path". */
  seen: string[];
  /** Connections currently open. */
  open: Set<Socket>;
  server: Server;
}

const servers: Server[] = [];
const clients: ManagementClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: Handler): Promise<TestServer> {
  const seen: string[] = [];
  const open = new Set<Socket>();
  const perSocket = new WeakMap<Socket, number>();
  const server = createServer((req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    seen.push(`${req.method} ${req.url?.split('?')[0]}`);
    req.resume();
    req.on('end', () => handler(req, res, n));
  });
  server.on('connection', (s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, open, server };
}

function client(url: string, extra: Partial<ConstructorParameters<typeof ManagementClient>[0]> = {}) {
  const c = new ManagementClient({
    endpoint: url,
    username: 'admin',
    password: 's3cret-pw',
    maxConcurrentRequests: 1,
    ...extra,
  });
  clients.push(c);
  return c;
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('ManagementClient: one failed read is not an outage', () => {
  it('sends an idempotent request again, once, when its keep-alive connection was closed under it', async () => {
    // The server answers the first request on each connection and drops the connection when a
    // second one arrives on it: what a broker closing an idle keep-alive socket looks like.
    const s = await serve((_req, res, n) => (n === 1 ? json(res, 200, []) : res.socket?.destroy()));
    const c = client(s.url);
    expect(await c.listPermissions()).toEqual([]);
    expect(await c.listPermissions()).toEqual([]); // reuses the connection, which is dropped
    expect(s.seen).toEqual(['GET /api/permissions', 'GET /api/permissions', 'GET /api/permissions']);
    expect(c.stats.retries).toBe(1);
    expect(c.stats.requests).toBe(2);

    await c.putPermission('v', 'u', { configure: '', write: '', read: '' }); // PUT: idempotent too
    await c.deletePermission('v', 'u'); // DELETE: idempotent too
    expect(c.stats.retries).toBe(3);
  });

  it('retries only once: a connection reset twice is an unreachable broker', async () => {
    const s = await serve((_req, res) => res.socket?.destroy());
    const c = client(s.url);
    const err = await rejection(c.listUsers());
    expect(err).toBeInstanceOf(ManagementError);
    expect((err as ManagementError).category).toBe('Unreachable');
    expect(s.seen).toHaveLength(2);
    expect(c.stats.retries).toBe(1);
  });

  it('never sends a POST twice', async () => {
    const s = await serve((_req, res) => res.socket?.destroy());
    const c = client(s.url);
    expect(await rejection(c.post('/api/definitions', {}))).toBeInstanceOf(ManagementError);
    expect(s.seen).toHaveLength(1);
    expect(c.stats.retries).toBe(0);
  });

  it('does not retry after a response: an error status, or a body cut short', async () => {
    const s = await serve((req, res) => {
      if (req.url?.startsWith('/api/users')) return json(res, 500, { error: 'boom', reason: 'boom' });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('[{"name"');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const c = client(s.url);
    expect(((await rejection(c.listUsers())) as ManagementError).status).toBe(500);
    expect(await rejection(c.listVhosts())).toBeInstanceOf(ManagementError);
    expect(s.seen).toEqual(['GET /api/users', 'GET /api/vhosts']);
    expect(c.stats.retries).toBe(0);
  });

  it('does not retry a timeout', async () => {
    const s = await serve(() => undefined); // never answers
    const c = client(s.url, { timeoutMs: 200 });
    const err = (await rejection(c.listUsers())) as ManagementError;
    expect(err.category).toBe('Unreachable');
    expect(err.code).toBe('ETIMEDOUT');
    expect(s.seen).toHaveLength(1);
    expect(c.stats.retries).toBe(0);
  });
});

describe('ManagementClient.close', () => {
  it('lets requests in flight finish, refuses new ones, then closes the connections', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = await serve((_req, res) => void gate.then(() => json(res, 200, [])));
    const c = client(s.url, { maxConcurrentRequests: 2 });
    const inFlight = c.listUsers();
    const waiting = [c.listVhosts(), c.listPermissions(), c.listVhostLimits()]; // one sent, two queued
    await expectEventually(() => s.seen.length === 2);
    let closed = false;
    const closing = c.close().then(() => (closed = true));
    expect(await rejection(c.listUsers())).toBeInstanceOf(ClientClosedError);
    expect(c.closed).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false); // still waiting for the calls made before close()
    release();
    expect(await inFlight).toEqual([]);
    expect(await Promise.all(waiting)).toEqual([[], [], []]);
    await closing;
    expect(s.seen).toHaveLength(4);
    await expectEventually(() => s.open.size === 0);
  });

  it('closes at once when nothing is in flight', async () => {
    const s = await serve((_req, res) => json(res, 200, []));
    const c = client(s.url);
    await c.listUsers();
    expect(s.open.size).toBe(1); // kept alive
    await c.close();
    await expectEventually(() => s.open.size === 0);
  });
});

describe('BrokerRegistry: a credentials Secret changing under requests in flight', () => {
  it('builds a new client and lets the old one finish its requests before closing', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const auths: string[] = [];
    const s = await serve((req, res) => {
      auths.push(req.headers.authorization ?? '');
      void gate.then(() => json(res, 200, []));
    });
    const broker = {
      apiVersion: 'warren.dev/v1alpha1',
      kind: 'RabbitBroker',
      metadata: { name: 'b', namespace: 'ns', uid: 'u' },
      spec: { endpoint: s.url, credentialsSecretRef: { name: 'admin' } },
    } as unknown as BrokerResource;
    let secret = { rv: '1', password: 'old-pw' };
    const secrets = {
      get: async () => ({
        metadata: { resourceVersion: secret.rv },
        data: {
          username: Buffer.from('admin').toString('base64'),
          password: Buffer.from(secret.password).toString('base64'),
        },
      }),
    } as unknown as SecretCache;
    const registry = new BrokerRegistry({ get: () => broker, secrets });
    const old = await registry.clientFor('ns/b', broker, new Set());
    const inFlight = old.listUsers();
    await expectEventually(() => auths.length === 1);
    secret = { rv: '2', password: 'new-pw' };
    const fresh = await registry.clientFor('ns/b', broker, new Set());
    expect(fresh).not.toBe(old);
    expect(old.closed).toBe(true);
    const next = fresh.listUsers();
    release();
    expect(await inFlight).toEqual([]); // not aborted, not an outage
    expect(await next).toEqual([]);
    expect(auths.map((a) => Buffer.from(a.slice(6), 'base64').toString())).toEqual([
      'admin:old-pw',
      'admin:new-pw',
    ]);
    await old.close();
    await fresh.close();
  });
});

describe('ManagementClient: fencing and write log', () => {
  it('refuses writes while canWrite() is false, before sending anything; reads still work', async () => {
    const s = await serve((_req, res) =>
      _req.method === 'GET' ? json(res, 200, []) : res.writeHead(204).end(),
    );
    let leader = false;
    const c = client(s.url, { canWrite: () => leader });
    for (const write of [
      () => c.putQueue('v', 'q', { durable: true, auto_delete: false, arguments: {} }),
      () => c.deleteQueue('v', 'q'),
      () => c.post('/api/definitions', {}),
    ]) {
      const err = await rejection(write());
      expect(err).toBeInstanceOf(WriteRefusedError);
      expect(err).not.toBeInstanceOf(ManagementError); // not "broker unreachable"
      expect(String(err)).toMatch(/not the leader: write refused/);
    }
    expect(await c.listUsers()).toEqual([]);
    expect(s.seen).toEqual(['GET /api/users']);
    leader = true;
    await c.putQueue('v', 'q', { durable: true, auto_delete: false, arguments: {} });
    expect(s.seen).toHaveLength(2);
  });

  it('re-checks canWrite for a write that waited for a free slot', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = await serve((_req, res) => void gate.then(() => res.writeHead(204).end()));
    let leader = true;
    const c = client(s.url, { canWrite: () => leader });
    const first = c.deleteUser('a');
    const queued = c.deleteUser('b'); // waits for the only slot
    await expectEventually(() => s.seen.length === 1);
    leader = false;
    release();
    await first;
    expect(await rejection(queued)).toBeInstanceOf(WriteRefusedError);
    expect(s.seen).toEqual(['DELETE /api/users/a']);
  });

  it('cuts off a write in flight when the leadership signal aborts, as refused, not as an outage', async () => {
    const s = await serve(() => undefined); // holds every request
    const term = new AbortController();
    const c = client(s.url, { writeSignal: () => term.signal });
    const write = c.putQueue('v', 'q', { durable: true, auto_delete: false, arguments: {} });
    await expectEventually(() => s.seen.length === 1);
    term.abort(new Error('leadership ended'));
    expect(await rejection(write)).toBeInstanceOf(WriteRefusedError);
    await expectEventually(() => s.open.size === 0); // the connection was closed under it
    expect(c.stats.retries).toBe(0);
  });

  it('logs each write with method and path only, never bodies or credentials', async () => {
    const s = await serve((_req, res) => res.writeHead(204).end());
    const lines: string[] = [];
    const log = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _enc, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const c = client(s.url, { log });
    await c.putUser('jack', {
      password_hash: 'SECRET-HASH',
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: [],
    });
    await c.getUser('jack').catch(() => undefined);
    const writes = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'broker write');
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({ method: 'PUT', path: '/api/users/jack' });
    expect(typeof writes[0].time).toBe('number');
    expect(lines.join('')).not.toMatch(/SECRET-HASH|s3cret-pw/);
  });
});

async function expectEventually(ok: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('metrics', () => {
  it('exports the retries per broker', async () => {
    const metrics = makeMetrics();
    metrics.observeBrokerRequests(() => new Map([['ns/b', { byMethod: { GET: 3 }, retries: 2 }]]));
    expect(await metrics.registry.metrics()).toMatch(
      /^warren_broker_request_retries_total\{broker="ns\/b"\} 2$/m,
    );
  });
});
