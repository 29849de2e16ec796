import * as k8s from '@kubernetes/client-node';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// A RabbitPermission's connection Secret: what an application (Celery's CELERY_BROKER_URL, pika's
// URLParameters) reads to connect. Proven by connecting with it: a message published through the
// Secret's URI is read back through it, also after the user's password is rotated.
let ctx: TestContext;
let op: RunningOperator;
const b = { name: 'local' };
let user: string;

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  user = `${ctx.namespace}-app`;
  const amqpAt = new URL(ctx.env.amqpUrl);
  await ctx.core.createNamespacedSecret({
    namespace: ctx.namespace,
    body: {
      metadata: { name: 'local-admin' },
      stringData: { username: ctx.env.adminUser, password: ctx.env.adminPassword },
    },
  });
  await ctx.create('rabbitbrokers', 'local', {
    endpoint: ctx.env.managementUrl,
    credentialsSecretRef: { name: 'local-admin' },
    amqp: { host: amqpAt.hostname, port: Number(amqpAt.port) },
  });
  op = await startOperator(ctx);
});
afterAll(async () => {
  await op?.stop();
  await ctx?.broker.del(`/users/${enc(user)}`);
  await ctx?.cleanup();
});

const secretData = async (name: string) => {
  const s = await ctx.core.readNamespacedSecret({ name, namespace: ctx.namespace });
  return Object.fromEntries(
    Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
  );
};

/** Publishes one message through `uri` to a queue of its own and reads it back through the same URI. */
async function roundTrip(uri: string, body: string): Promise<string | undefined> {
  const conn = await amqp.connect(uri);
  try {
    const ch = await conn.createConfirmChannel();
    const q = `conn-secret-${body}`;
    await ch.assertQueue(q, { durable: false, autoDelete: false });
    ch.sendToQueue(q, Buffer.from(body));
    await ch.waitForConfirms();
    const got = await eventually(
      () => ch.get(q, { noAck: true }),
      (m) => m !== false,
      { what: `the message in ${q}` },
    );
    await ch.deleteQueue(q);
    return got === false ? undefined : got.content.toString();
  } finally {
    await conn.close();
  }
}

describe('connectionSecret', () => {
  it('holds a URI an AMQP client connects with, kept in step with the password', async () => {
    await ctx.core.createNamespacedSecret({
      namespace: ctx.namespace,
      body: { metadata: { name: 'app-password' }, stringData: { password: 'first p@ss/word' } },
    });
    await ctx.create('rabbitusers', 'app', {
      brokerRef: b,
      username: user,
      credentialsSecretRef: { name: 'app-password' },
    });
    await ctx.create('rabbitpermissions', 'app', {
      brokerRef: b,
      vhost: ctx.vhost,
      userRef: { name: 'app' },
      configure: '.*',
      write: '.*',
      read: '.*',
      connectionSecret: { name: 'app-amqp' },
    });
    const p = await eventually(() => ctx.get('rabbitpermissions', 'app'), isReadyNow, {
      what: 'permission Ready',
    });
    expect(p.status.connectionSecretName).toBe('app-amqp');
    const first = await secretData('app-amqp');
    const at = new URL(ctx.env.amqpUrl);
    expect(first).toEqual({
      uri: `amqp://${enc(user)}:${enc('first p@ss/word')}@${at.hostname}:${at.port}/${enc(ctx.vhost)}`,
      host: at.hostname,
      port: at.port,
      vhost: ctx.vhost,
      username: user,
      password: 'first p@ss/word',
    });
    expect(await roundTrip(first.uri!, 'one')).toBe('one');

    // Rotation: the user's Secret changes, the broker's password and the connection Secret follow.
    await ctx.core.replaceNamespacedSecret({
      name: 'app-password',
      namespace: ctx.namespace,
      body: { metadata: { name: 'app-password' }, stringData: { password: 'second' } },
    });
    const second = await eventually(
      () => secretData('app-amqp'),
      (d) => d.password === 'second',
      { what: 'the connection Secret with the new password' },
    );
    expect(second.uri).toContain(`:second@`);
    expect(await roundTrip(second.uri!, 'two')).toBe('two');
    await expect(amqp.connect(first.uri!)).rejects.toThrow(/ACCESS_REFUSED|403/);
  });

  it("leaves someone else's Secret of that name alone and says so", async () => {
    await ctx.core.createNamespacedSecret({
      namespace: ctx.namespace,
      body: { metadata: { name: 'theirs' }, stringData: { uri: 'amqp://elsewhere' } },
    });
    await ctx.create('rabbitpermissions', 'clash', {
      brokerRef: b,
      vhost: '/',
      userRef: { name: 'app' },
      configure: '',
      write: '',
      read: '',
      connectionSecret: { name: 'theirs' },
    });
    const p = await eventually(
      () => ctx.get('rabbitpermissions', 'clash'),
      (o) => readyOf(o)?.reason === 'InvalidSpec',
      { what: 'clash InvalidSpec' },
    );
    expect(readyOf(p).message).toContain('Secret');
    expect(readyOf(p).message).toContain('theirs');
    expect(await secretData('theirs')).toEqual({ uri: 'amqp://elsewhere' });
  });

  it('is refused by the API server without userRef (warren knows no password for a bare user name)', async () => {
    const err = await ctx
      .create('rabbitpermissions', 'bare', {
        brokerRef: b,
        vhost: ctx.vhost,
        user: 'guest',
        configure: '',
        write: '',
        read: '',
        connectionSecret: { name: 'bare' },
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(k8s.ApiException);
    expect((err as k8s.ApiException<unknown>).code).toBe(422);
    expect(String((err as k8s.ApiException<unknown>).body)).toContain('connectionSecret needs userRef');
  });
});
