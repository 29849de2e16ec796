import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import {
  api,
  capabilities,
  hashPassword,
  ManagementClient,
  ManagementError,
  passwordMatches,
} from '../../src/rabbitmq/index.ts';

const env = inject('env');
const suffix = randomBytes(3).toString('hex');
// A '/' and a space in the vhost name prove the path encoding end to end. (Not a non-ASCII
// name here: RabbitMQ 4.3 answers a bare 500 instead of its AMQP error for such vhosts.)
const vhost = `mc-test-${suffix}/a x`;
const users = [`mc-user-${suffix}`, `mc-nopw-${suffix}`];

let client: ManagementClient;
const extraClients: ManagementClient[] = [];

function clientWith(
  overrides: Partial<ConstructorParameters<typeof ManagementClient>[0]> = {},
): ManagementClient {
  const c = new ManagementClient({
    endpoint: env.managementUrl,
    username: env.adminUser,
    password: env.adminPassword,
    ...overrides,
  });
  extraClients.push(c);
  return c;
}

async function failure(p: Promise<unknown>): Promise<ManagementError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ManagementError) return err;
    throw err;
  }
  throw new Error('expected a ManagementError');
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

beforeAll(async () => {
  client = clientWith();
  expect(await client.putVhost(vhost, { description: 'management client test', tags: ['test'] })).toBe(
    'created',
  );
});

afterAll(async () => {
  await client?.deleteVhost(vhost);
  for (const u of users) await client?.deleteUser(u);
  for (const c of extraClients) c.close();
});

describe('broker', () => {
  it('reads the overview and derives capabilities', async () => {
    const o = await client.overview();
    expect(o.rabbitmq_version).toBe(env.rabbitmqVersion);
    expect(o.node).toMatch(/@localhost$/);
    expect(typeof o.management_version).toBe('string');
    expect((await client.capabilities()).version).toEqual(capabilities(env.rabbitmqVersion).version);
  });
});

describe('vhosts', () => {
  it('round-trips description, tags, default queue type and limits', async () => {
    const name = `mc-vh-${suffix}`;
    try {
      expect(
        await client.putVhost(name, {
          description: 'one',
          tags: ['a', 'b'],
          defaultQueueType: 'quorum',
          tracing: false,
        }),
      ).toBe('created');
      expect(await client.getVhost(name)).toMatchObject({
        name,
        description: 'one',
        tags: ['a', 'b'],
        default_queue_type: 'quorum',
        tracing: false,
      });
      // A queue declared without x-queue-type gets the vhost default.
      await client.putQueue(name, 'dq', { durable: true, auto_delete: false, arguments: {} });
      expect((await client.getQueue(name, 'dq'))?.type).toBe('quorum');

      expect(await client.putVhost(name, { description: 'two', tags: [], defaultQueueType: 'quorum' })).toBe(
        'updated',
      );
      expect(await client.getVhost(name)).toMatchObject({ description: 'two', tags: [] });
      expect((await client.listVhosts()).map((v) => v.name)).toContain(name);

      expect(await client.getVhostLimits(name)).toEqual({});
      await client.putVhostLimit(name, 'max-queues', 100);
      await client.putVhostLimit(name, 'max-connections', 7);
      expect(await client.getVhostLimits(name)).toEqual({ 'max-queues': 100, 'max-connections': 7 });
      expect((await client.listVhostLimits()).find((l) => l.vhost === name)?.value).toEqual({
        'max-queues': 100,
        'max-connections': 7,
      });
      await client.deleteVhostLimit(name, 'max-queues');
      expect(await client.getVhostLimits(name)).toEqual({ 'max-connections': 7 });
      await client.deleteVhostLimit(name, 'max-connections');
      expect(await client.getVhostLimits(name)).toEqual({});
    } finally {
      expect(await client.deleteVhost(name)).toBe(true);
    }
    expect(await client.getVhost(name)).toBeUndefined();
    expect(await client.deleteVhost(name)).toBe(false);
  });

  it('refuses an unknown default queue type without asking the broker', async () => {
    const before = client.stats.requests;
    const err = await failure(
      client.putVhost(`mc-bad-${suffix}`, { description: '', tags: [], defaultQueueType: 'lazy' }),
    );
    expect(err.category).toBe('Rejected');
    expect(client.stats.requests).toBe(before);
  });
});

describe('users', () => {
  const [user, nopw] = users as [string, string];

  it('round-trips a client-side password hash, tags and limits', async () => {
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const hash = hashPassword(password, 'rabbit_password_hashing_sha512');
    expect(
      await client.putUser(user, {
        password_hash: hash,
        hashing_algorithm: 'rabbit_password_hashing_sha512',
        tags: ['management', 'monitoring'],
      }),
    ).toBe('created');
    const got = await client.getUser(user);
    expect(got).toMatchObject({
      name: user,
      password_hash: hash,
      hashing_algorithm: 'rabbit_password_hashing_sha512',
      limits: {},
    });
    expect(new Set(got!.tags)).toEqual(new Set(['management', 'monitoring']));
    expect(passwordMatches(got!.password_hash, got!.hashing_algorithm, password)).toBe(true);
    expect(passwordMatches(got!.password_hash, got!.hashing_algorithm, password + 'x')).toBe(false);

    // The hash works for a real login.
    const asUser = clientWith({ username: user, password });
    expect((await asUser.overview()).rabbitmq_version).toBe(env.rabbitmqVersion);

    await client.putUserLimit(user, 'max-channels', 5);
    expect(await client.getUserLimits(user)).toEqual({ 'max-channels': 5 });
    expect((await client.getUser(user))?.limits).toEqual({ 'max-channels': 5 });
    expect((await client.listUserLimits()).find((l) => l.user === user)?.value).toEqual({
      'max-channels': 5,
    });
    await client.deleteUserLimit(user, 'max-channels');
    expect(await client.getUserLimits(user)).toEqual({});

    expect((await client.listUsers()).find((u) => u.name === user)?.password_hash).toBe(hash);
  });

  it('creates a passwordless user', async () => {
    expect(await client.putUser(nopw, { passwordless: true, tags: [] })).toBe('created');
    expect(await client.getUser(nopw)).toMatchObject({ name: nopw, password_hash: '', tags: [] });
    expect(await client.deleteUser(nopw)).toBe(true);
    expect(await client.getUser(nopw)).toBeUndefined();
    expect(await client.deleteUser(nopw)).toBe(false);
  });

  it('keeps a rejected password hash out of the error', async () => {
    const secretHash = `not-base64-${randomBytes(6).toString('hex')}!`;
    const err = await failure(
      client.putUser(user, {
        password_hash: secretHash,
        hashing_algorithm: 'rabbit_password_hashing_sha256',
        tags: [],
      }),
    );
    expect(err.status).toBe(400);
    expect(err.reason).toContain('not_base64');
    expect(err.message).not.toContain(secretHash);
  });

  it('refuses an unknown hashing algorithm', async () => {
    const err = await failure(
      client.putUser(user, { password_hash: 'AAAA', hashing_algorithm: 'sha1', tags: [] }),
    );
    expect(err.category).toBe('Rejected');
  });
});

describe('permissions', () => {
  const user = users[0]!;

  it('round-trips a permission', async () => {
    expect(await client.getPermission(vhost, user)).toBeUndefined();
    expect(await client.putPermission(vhost, user, { configure: '^mc\\.', write: '.*', read: '' })).toBe(
      'created',
    );
    expect(await client.getPermission(vhost, user)).toEqual({
      user,
      vhost,
      configure: '^mc\\.',
      write: '.*',
      read: '',
    });
    expect(await client.putPermission(vhost, user, { configure: '', write: '', read: '' })).toBe('updated');
    expect((await client.listPermissions()).filter((p) => p.vhost === vhost).map((p) => p.user)).toContain(
      user,
    );
    expect(await client.deletePermission(vhost, user)).toBe(true);
    expect(await client.deletePermission(vhost, user)).toBe(false);
  });

  it('reports a missing vhost or user as Rejected (400), not NotFound', async () => {
    const err = await failure(
      client.putPermission(vhost, `nobody-${suffix}`, { configure: '', write: '', read: '' }),
    );
    expect(err).toMatchObject({ status: 400, category: 'Rejected' });
  });

  it('round-trips topic permissions per exchange', async () => {
    expect(await client.getTopicPermissions(vhost, user)).toEqual([]);
    expect(
      await client.putTopicPermission(vhost, user, { exchange: 'amq.topic', write: '^a', read: '^b' }),
    ).toBe('created');
    // RabbitMQ 4.3 checks that the exchange exists (400 no_such_exchange); 3.10 and 4.0 do not.
    await client.put(api`/exchanges/${vhost}/${'x/y'}`, { type: 'topic', durable: true });
    // A second exchange is 204 although it is new.
    expect(await client.putTopicPermission(vhost, user, { exchange: 'x/y', write: '', read: '.*' })).toBe(
      'updated',
    );
    const tps = await client.getTopicPermissions(vhost, user);
    expect(
      tps
        .map(({ exchange, write, read }) => ({ exchange, write, read }))
        .sort((a, b) => a.exchange.localeCompare(b.exchange)),
    ).toEqual([
      { exchange: 'amq.topic', write: '^a', read: '^b' },
      { exchange: 'x/y', write: '', read: '.*' },
    ]);
    expect((await client.listTopicPermissions()).filter((t) => t.vhost === vhost)).toHaveLength(2);
    expect(await client.deleteTopicPermission(vhost, user, 'x/y')).toBe(true);
    expect((await client.getTopicPermissions(vhost, user)).map((t) => t.exchange)).toEqual(['amq.topic']);
    expect(await client.deleteTopicPermission(vhost, user, 'amq.topic')).toBe(true);
    expect(await client.getTopicPermissions(vhost, user)).toEqual([]);
    expect(await client.deleteTopicPermission(vhost, user, 'amq.topic')).toBe(false);
  });
});

describe('queues', () => {
  it('declares, reads and redeclares a queue', async () => {
    const body = {
      durable: true,
      auto_delete: false,
      arguments: { 'x-queue-type': 'classic', 'x-max-length': 10 },
    };
    expect(await client.putQueue(vhost, 'q/1', body)).toBe('created');
    expect(await client.getQueue(vhost, 'q/1')).toMatchObject({
      name: 'q/1',
      vhost,
      type: 'classic',
      durable: true,
      auto_delete: false,
      arguments: { 'x-queue-type': 'classic', 'x-max-length': 10 },
    });
    expect(await client.putQueue(vhost, 'q/1', body)).toBe('updated');
    expect(await client.getQueue(vhost, 'missing')).toBeUndefined();
  });

  it('reports an inequivalent redeclare as Rejected', async () => {
    const err = await failure(
      client.putQueue(vhost, 'q/1', {
        durable: false,
        auto_delete: false,
        arguments: { 'x-queue-type': 'classic' },
      }),
    );
    expect(err).toMatchObject({ status: 400, category: 'Rejected', method: 'PUT' });
    expect(err.reason).toContain('inequivalent');
    expect(err.message).toContain(`PUT ${api`/queues/${vhost}/${'q/1'}`}: 400 inequivalent arg 'durable'`);
  });

  it('reports a reserved name as Rejected (401 Access refused.)', async () => {
    const err = await failure(
      client.putQueue(vhost, 'amq.nope', { durable: true, auto_delete: false, arguments: {} }),
    );
    expect(err).toMatchObject({ status: 401, category: 'Rejected', reason: 'Access refused.' });
  });

  it('deletes with conditions, and a missing queue is false', async () => {
    await client.putQueue(vhost, 'qq', {
      durable: true,
      auto_delete: false,
      arguments: { 'x-queue-type': 'quorum' },
    });
    expect((await client.getQueue(vhost, 'qq'))?.type).toBe('quorum');
    // Quorum queues refuse the if-empty flag.
    const err = await failure(client.deleteQueue(vhost, 'qq', { ifEmpty: true }));
    expect(err.category).toBe('Rejected');
    expect(await client.deleteQueue(vhost, 'qq')).toBe(true);
    expect(await client.deleteQueue(vhost, 'q/1', { ifEmpty: true, ifUnused: true })).toBe(true);
    expect(await client.deleteQueue(vhost, 'q/1')).toBe(false);
    expect(await client.deleteQueue(vhost, 'never-existed')).toBe(false);
  });

  it('lists more queues than a page holds in one request', async () => {
    const pager = clientWith({ maxConcurrentRequests: 8 });
    const names = Array.from({ length: 520 }, (_, i) => `page-${String(i).padStart(4, '0')}`);
    await pool(names, 16, (n) =>
      pager.putQueue(vhost, n, {
        durable: true,
        auto_delete: false,
        arguments: n.endsWith('7') ? { 'x-queue-type': 'quorum' } : {},
      }),
    );
    // 16 callers, but never more than 8 requests in flight.
    expect(pager.stats.peakInFlight).toBe(8);

    const before = pager.stats.byMethod.GET ?? 0;
    const queues = await pager.listQueues(vhost);
    const listed = queues.filter((q) => q.name.startsWith('page-'));
    expect(listed.map((q) => q.name).sort()).toEqual(names);
    expect(new Set(listed.map((q) => q.name)).size).toBe(520);
    // overview (for the version) + one list request, though 520 would be two of the broker's pages
    expect((pager.stats.byMethod.GET ?? 0) - before).toBe(2);
    expect(listed.find((q) => q.name === 'page-0007')).toMatchObject({ type: 'quorum', durable: true });
    expect(listed.find((q) => q.name === 'page-0001')).toMatchObject({ type: 'classic', auto_delete: false });
    expect(await pager.listQueues(`mc-nosuch-${suffix}`)).toEqual([]);

    // Read again unchanged: the same row objects (nothing parsed again); a changed list is new.
    const again = await pager.listQueues(vhost);
    expect(again).toBe(queues); // the very list, frozen: no caller can change it for the next
    expect(Object.isFrozen(again)).toBe(true);
    await pager.putQueue(vhost, 'page-0000-extra', { durable: true, auto_delete: false, arguments: {} });
    const changed = await pager.listQueues(vhost);
    expect(changed.map((q) => q.name)).toContain('page-0000-extra');
    expect(changed.length).toBe(queues.length + 1);
    expect(changed.find((q) => q.name === 'page-0001')).not.toBe(queues.find((q) => q.name === 'page-0001'));
    expect(changed.find((q) => q.name === 'page-0001')).toEqual(queues.find((q) => q.name === 'page-0001'));
  });
});

describe('request accounting', () => {
  it('counts every request by method', async () => {
    const c = clientWith();
    expect(c.stats).toEqual({ requests: 0, byMethod: {}, peakInFlight: 0, retries: 0 });
    await c.getQueue(vhost, 'nope');
    await c.putQueue(vhost, 'counted', { durable: true, auto_delete: false, arguments: {} });
    await c.getQueue(vhost, 'counted');
    await c.deleteQueue(vhost, 'counted');
    await c.deleteQueue(vhost, 'counted');
    expect(c.stats).toMatchObject({ requests: 5, byMethod: { GET: 2, PUT: 1, DELETE: 2 } });
  });
});

describe('failures', () => {
  it('maps a wrong password to Unauthorized without leaking it', async () => {
    const password = `wrong-${randomBytes(8).toString('hex')}`;
    const err = await failure(clientWith({ password }).overview());
    expect(err).toMatchObject({ status: 401, category: 'Unauthorized' });
    // 3.10 says "Login failed", 4.3 "Not_Authorized".
    expect(err.reason).toMatch(/^(Login failed|Not_Authorized)$/);
    const everything = `${err.message} ${err.stack} ${JSON.stringify(err)} ${err.reason}`;
    expect(everything).not.toContain(password);
    expect(everything).not.toContain(Buffer.from(`${env.adminUser}:${password}`).toString('base64'));
  });

  it('maps a closed port to Unreachable without leaking the password', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const err = await failure(clientWith({ endpoint: `http://127.0.0.1:${port}` }).getVhost(vhost));
    expect(err).toMatchObject({ category: 'Unreachable', status: undefined, code: 'ECONNREFUSED' });
    expect(err.message).toMatch(/^GET \/api\/vhosts\/.+: unreachable/);
    expect(`${err.message} ${err.stack} ${JSON.stringify(err)}`).not.toContain(env.adminPassword);
  });

  it('maps a silent server to Unreachable after the timeout, with no retry', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const c = clientWith({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 300 });
      const err = await failure(c.overview());
      expect(err).toMatchObject({ category: 'Unreachable', code: 'ETIMEDOUT' });
      expect(c.stats.requests).toBe(1);
      expect(sockets).toHaveLength(1);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
