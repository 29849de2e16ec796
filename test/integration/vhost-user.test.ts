import amqp from 'amqplib';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { passwordMatches } from '../../src/rabbitmq/index.ts';
import type { TestContext } from '../support/context.ts';
import { useOperator } from '../support/suite.ts';
import { enc } from '../support/management.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

let ctx: TestContext;
let prefix: string;
useOperator(
  import.meta.url,
  (c) => {
    ctx = c;
    prefix = ctx.namespace;
  },
  {
    cleanup: async (c) => {
      for (const v of ['v1', 'v2']) await c.broker.del(`/vhosts/${enc(`${prefix}-${v}`)}`);
      for (const u of ['gen', 'imp', 'hash', 'nopw', 'renamed', 'old-name'])
        await c.broker.del(`/users/${enc(`${prefix}-${u}`)}`);
    },
  },
);

// Distinctive secrets, so that finding one anywhere is a leak and not a coincidence.
const PW_ONE = `pw-one-${randomBytes(8).toString('hex')}`;
const PW_TWO = `pw-two-${randomBytes(8).toString('hex')}`;
const HASHED = `pw-hashed-${randomBytes(8).toString('hex')}`;

const ready = (plural: string, name: string) =>
  eventually(() => ctx.get(plural, name), isReadyNow, { what: `${plural}/${name} Ready` });
const secretData = async (name: string) => {
  const s = await ctx.core.readNamespacedSecret({ name, namespace: ctx.namespace });
  return Object.fromEntries(
    Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
  );
};
const putSecret = (name: string, data: Record<string, string>) =>
  ctx.core.replaceNamespacedSecret({
    name,
    namespace: ctx.namespace,
    body: { metadata: { name }, stringData: data },
  });

describe('RabbitVhost', () => {
  it('creates a vhost with description, tags, default queue type and limits, and updates them', async () => {
    const name = `${prefix}-v1`;
    await ctx.create('rabbitvhosts', 'v1', {
      brokerRef: { name: 'local' },
      name,
      description: 'first',
      tags: ['a', 'b'],
      defaultQueueType: 'quorum',
      tracing: true,
      limits: { maxConnections: 10, maxQueues: 5 },
    });
    await ready('rabbitvhosts', 'v1');
    const vh = await ctx.broker.get(`/vhosts/${enc(name)}`);
    expect(vh.body).toMatchObject({
      name,
      description: 'first',
      default_queue_type: 'quorum',
      tracing: true,
    });
    expect([...vh.body.tags].sort()).toEqual(['a', 'b']);
    expect((await ctx.broker.get(`/vhost-limits/${enc(name)}`)).body[0].value).toEqual({
      'max-connections': 10,
      'max-queues': 5,
    });

    await ctx.patchSpec('rabbitvhosts', 'v1', {
      description: 'second',
      tags: ['c'],
      limits: { maxQueues: 7, maxConnections: null },
    });
    await ready('rabbitvhosts', 'v1');
    const after = await ctx.broker.get(`/vhosts/${enc(name)}`);
    expect(after.body).toMatchObject({ description: 'second', tags: ['c'] });
    // A limit removed from the spec is removed from the broker.
    expect((await ctx.broker.get(`/vhost-limits/${enc(name)}`)).body[0].value).toEqual({ 'max-queues': 7 });
  });

  it('deletes the vhost with the resource', async () => {
    const name = `${prefix}-v2`;
    await ctx.create('rabbitvhosts', 'v2', { brokerRef: { name: 'local' }, name });
    await ready('rabbitvhosts', 'v2');
    await ctx.remove('rabbitvhosts', 'v2');
    await ctx.waitGone('rabbitvhosts', 'v2');
    expect((await ctx.broker.get(`/vhosts/${enc(name)}`)).status).toBe(404);
  });
});

describe('RabbitUser', () => {
  it('generates a password into <name>-user-credentials once and never regenerates it', async () => {
    const username = `${prefix}-gen`;
    await ctx.create('rabbitusers', 'gen', { brokerRef: { name: 'local' }, username, tags: ['management'] });
    const u = await ready('rabbitusers', 'gen');
    expect(u.status).toMatchObject({ username, credentialsSecretName: 'gen-user-credentials' });
    const data = await secretData('gen-user-credentials');
    expect(data.username).toBe(username);
    expect(data.password!.length).toBeGreaterThanOrEqual(24);
    const stored = (await ctx.broker.get(`/users/${enc(username)}`)).body;
    expect(passwordMatches(stored.password_hash, stored.hashing_algorithm, data.password!)).toBe(true);
    expect(stored.tags).toEqual(['management']);

    // A spec change reconciles again: same password, same hash (no needless rewrite).
    await ctx.patchSpec('rabbitusers', 'gen', { limits: { maxConnections: 3 } });
    await ready('rabbitusers', 'gen');
    expect((await secretData('gen-user-credentials')).password).toBe(data.password);
    const again = (await ctx.broker.get(`/users/${enc(username)}`)).body;
    expect(again.password_hash).toBe(stored.password_hash);
    expect((await ctx.broker.get(`/user-limits/${enc(username)}`)).body[0].value).toEqual({
      'max-connections': 3,
    });
  });

  it('imports a password from a Secret and rotates it when the Secret changes', async () => {
    const username = `${prefix}-imp`;
    await ctx.core.createNamespacedSecret({
      namespace: ctx.namespace,
      body: { metadata: { name: 'imp' }, stringData: { password: PW_ONE } },
    });
    await ctx.create('rabbitusers', 'imp', {
      brokerRef: { name: 'local' },
      username,
      credentialsSecretRef: { name: 'imp' },
    });
    await ready('rabbitusers', 'imp');
    const check = async (pw: string) => {
      const u = (await ctx.broker.get(`/users/${enc(username)}`)).body;
      return passwordMatches(u.password_hash, u.hashing_algorithm, pw);
    };
    expect(await check(PW_ONE)).toBe(true);
    await putSecret('imp', { password: PW_TWO });
    await eventually(
      () => check(PW_TWO),
      (ok) => ok,
      { what: 'password rotated' },
    );
    expect(await check(PW_ONE)).toBe(false);
    // The user logs in with the new password (the default vhost needs a permission first).
    await ctx.broker.put(`/permissions/%2F/${enc(username)}`, { configure: '', write: '', read: '' });
    const conn = await amqp.connect(
      `${ctx.env.amqpUrl.replace('amqp://', `amqp://${enc(username)}:${PW_TWO}@`)}/%2F`,
    );
    await conn.close();
  });

  it('imports a password hash, and a passwordless user has none', async () => {
    const { hashPassword } = await import('../../src/rabbitmq/index.ts');
    const hash = hashPassword(HASHED, 'rabbit_password_hashing_sha512');
    await ctx.core.createNamespacedSecret({
      namespace: ctx.namespace,
      body: {
        metadata: { name: 'hash' },
        stringData: { passwordHash: hash, hashingAlgorithm: 'rabbit_password_hashing_sha512' },
      },
    });
    await ctx.create('rabbitusers', 'hash', {
      brokerRef: { name: 'local' },
      username: `${prefix}-hash`,
      credentialsSecretRef: { name: 'hash' },
    });
    await ctx.create('rabbitusers', 'nopw', {
      brokerRef: { name: 'local' },
      username: `${prefix}-nopw`,
      passwordless: true,
    });
    await ready('rabbitusers', 'hash');
    await ready('rabbitusers', 'nopw');
    expect((await ctx.broker.get(`/users/${enc(`${prefix}-hash`)}`)).body).toMatchObject({
      password_hash: hash,
      hashing_algorithm: 'rabbit_password_hashing_sha512',
    });
    expect((await ctx.broker.get(`/users/${enc(`${prefix}-nopw`)}`)).body.password_hash).toBe('');
  });

  it('reports a missing Secret, then recovers when it appears', async () => {
    await ctx.create('rabbitusers', 'late', {
      brokerRef: { name: 'local' },
      username: `${prefix}-late`,
      credentialsSecretRef: { name: 'late' },
    });
    const u = await eventually(
      () => ctx.get('rabbitusers', 'late'),
      (o) => readyOf(o)?.status === 'False',
    );
    expect(readyOf(u).reason).toBe('SecretNotFound');
    await ctx.core.createNamespacedSecret({
      namespace: ctx.namespace,
      body: { metadata: { name: 'late' }, stringData: { nope: 'x' } },
    });
    await eventually(
      () => ctx.get('rabbitusers', 'late'),
      (o) => readyOf(o)?.reason === 'InvalidSecret',
    );
    await putSecret('late', { password: 'finally' });
    await ready('rabbitusers', 'late');
    // Each change of state is one event: not found, invalid, and the recovery.
    const { EventsV1Api } = await import('@kubernetes/client-node');
    const reasons = async () =>
      (await ctx.kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: ctx.namespace })).items
        .filter((e) => e.regarding?.name === 'late')
        .map((e) => e.reason)
        .sort();
    expect(await eventually(reasons, (r) => r.length >= 3)).toEqual([
      'InvalidSecret',
      'Reconciled',
      'SecretNotFound',
    ]);
    await ctx.broker.del(`/users/${enc(`${prefix}-late`)}`);
  });

  it('removes the old broker user when the username changes', async () => {
    await ctx.create('rabbitusers', 'renamed', {
      brokerRef: { name: 'local' },
      username: `${prefix}-old-name`,
    });
    await ready('rabbitusers', 'renamed');
    await ctx.patchSpec('rabbitusers', 'renamed', { username: `${prefix}-renamed` });
    await eventually(
      () => ctx.get('rabbitusers', 'renamed'),
      (o) => isReadyNow(o) && o.status.username === `${prefix}-renamed`,
    );
    expect((await ctx.broker.get(`/users/${enc(`${prefix}-old-name`)}`)).status).toBe(404);
    expect((await ctx.broker.get(`/users/${enc(`${prefix}-renamed`)}`)).status).toBe(200);
    expect((await secretData('renamed-user-credentials')).username).toBe(`${prefix}-renamed`);
  });

  it('never puts a password or hash in status, events or logs', async () => {
    const generated = (await secretData('gen-user-credentials')).password!;
    const hash = (await secretData('hash')).passwordHash!;
    const secrets = [generated, PW_ONE, PW_TWO, HASHED, hash];
    const users = await ctx.custom.listNamespacedCustomObject({
      group: 'warren.dev',
      version: 'v1alpha1',
      namespace: ctx.namespace,
      plural: 'rabbitusers',
    });
    const events = await ctx.kc
      .makeApiClient((await import('@kubernetes/client-node')).EventsV1Api)
      .listNamespacedEvent({ namespace: ctx.namespace });
    const log = readFileSync(join(ctx.env.dir, `operator-${ctx.namespace}.log`), 'utf8');
    // The users above were reconciled (the log says so), so there was something to leak.
    expect(log).toContain('applied to the broker');
    for (const text of [JSON.stringify(users), JSON.stringify(events.items), log]) {
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
  });
});

describe('RabbitUser deletion and events', () => {
  it('deletes the broker user with Delete, keeps it with Retain, and records events on transitions only', async () => {
    await ctx.create('rabbitusers', 'temp', { brokerRef: { name: 'local' }, username: `${prefix}-temp` });
    await ctx.create('rabbitusers', 'keep', {
      brokerRef: { name: 'local' },
      username: `${prefix}-keep`,
      deletionPolicy: 'Retain',
    });
    await ready('rabbitusers', 'temp');
    await ready('rabbitusers', 'keep');
    // More reconciles without a change of state: no new event, no status write.
    const before = await ctx.get('rabbitusers', 'temp');
    for (const limits of [{ maxChannels: 5 }, { maxChannels: 6 }]) {
      await ctx.patchSpec('rabbitusers', 'temp', { limits });
      await ready('rabbitusers', 'temp');
    }
    const after = await ctx.get('rabbitusers', 'temp');
    const readyOf = (o: any) => o.status.conditions.find((c: any) => c.type === 'Ready');
    expect(readyOf(after).lastTransitionTime).toBe(readyOf(before).lastTransitionTime);
    const { EventsV1Api } = await import('@kubernetes/client-node');
    const events = (await ctx.kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: ctx.namespace }))
      .items;
    // Turning Ready the first time is no news (status says it); only changes of state are events.
    expect(events.filter((e) => e.regarding?.name === 'temp')).toEqual([]);

    await ctx.remove('rabbitusers', 'temp');
    await ctx.remove('rabbitusers', 'keep');
    await ctx.waitGone('rabbitusers', 'temp');
    await ctx.waitGone('rabbitusers', 'keep');
    expect((await ctx.broker.get(`/users/${enc(`${prefix}-temp`)}`)).status).toBe(404);
    expect((await ctx.broker.get(`/users/${enc(`${prefix}-keep`)}`)).status).toBe(200);
    await ctx.broker.del(`/users/${enc(`${prefix}-keep`)}`);
  });
});

describe('RabbitUser status', () => {
  it('drops fields that no longer apply: a user made passwordless has no credentials Secret in status', async () => {
    await ctx.create('rabbitusers', 'switch', { brokerRef: { name: 'local' }, username: `${prefix}-switch` });
    const first = await ready('rabbitusers', 'switch');
    expect(first.status.credentialsSecretName).toBe('switch-user-credentials');
    await ctx.patchSpec('rabbitusers', 'switch', { passwordless: true });
    const after = await eventually(
      () => ctx.get('rabbitusers', 'switch'),
      (o) => isReadyNow(o) && o.metadata.generation === 2,
    );
    expect(after.status.credentialsSecretName).toBeUndefined();
    expect((await ctx.broker.get(`/users/${enc(`${prefix}-switch`)}`)).body.password_hash).toBe('');
    await ctx.remove('rabbitusers', 'switch');
    await ctx.waitGone('rabbitusers', 'switch');
  });
});
