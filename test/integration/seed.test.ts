import amqp from 'amqplib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { TestContext } from '../support/context.ts';
import { useOperator } from '../support/suite.ts';
import { REPO } from '../support/environment.ts';
import { enc } from '../support/management.ts';
import { eventually, isReadyNow } from '../support/wait.ts';

// The Celery/pika set-up from examples/seed/, applied unchanged, verified from the data plane.
let ctx: TestContext;
useOperator(import.meta.url, (c) => (ctx = c), {
  cleanup: async (c) => {
    for (const path of ['/vhosts/jack_vhost', '/users/jack', '/users/nobody']) await c.broker.del(path);
  },
});

const amqpUrl = (user: string, password: string, vhost: string) => {
  const u = new URL(ctx.env.amqpUrl);
  return `amqp://${enc(user)}:${enc(password)}@${u.host}/${enc(vhost)}`;
};

// As the README tells people: kubectl apply, then kubectl wait. (Asynchronously: the operator
// runs in this process.)
const kubectl = async (...args: string[]) =>
  (
    await promisify(execFile)(
      ctx.env.kubectl,
      ['--kubeconfig', ctx.env.kubeconfigPath, '-n', ctx.namespace, ...args],
      {
        cwd: REPO,
        encoding: 'utf8',
        timeout: 90_000,
      },
    )
  ).stdout;

describe('the seed scenario', () => {
  it('kubectl apply -f examples/seed/ then kubectl wait --for=condition=Ready returns once all are Ready', async () => {
    expect(await kubectl('apply', '-f', 'examples/seed/')).toContain('rabbitqueue.warren.dev/hello created');
    const waited = await kubectl('wait', '--for=condition=Ready', 'rabbit', '--all', '--timeout=60s');
    for (const name of ['jack-vhost', 'jack', 'jack-on-jack-vhost', 'hello', 'local']) {
      expect(waited).toMatch(new RegExp(`/${name} condition met`));
    }
    const table = await kubectl('get', 'rabbitqueues', 'hello');
    expect(table).toMatch(/^NAME\s+QUEUE\s+VHOST\s+TYPE\s+READY\s+REASON\s+AGE/m);
    expect(table).toMatch(/^hello\s+hello\s+jack_vhost\s+True\s+Reconciled/m);
  });

  it('makes every resource Ready at its current generation', async () => {
    for (const [plural, name] of [
      ['rabbitbrokers', 'local'],
      ['rabbitvhosts', 'jack-vhost'],
      ['rabbitusers', 'jack'],
      ['rabbitpermissions', 'jack-on-jack-vhost'],
      ['rabbitqueues', 'hello'],
    ] as const) {
      await eventually(() => ctx.get(plural, name), isReadyNow, { what: `${plural}/${name} Ready` });
    }
    const user = await ctx.get('rabbitusers', 'jack');
    expect(user.status.username).toBe('jack');
    const broker = await ctx.get('rabbitbrokers', 'local');
    expect(broker.status.rabbitmqVersion).toBe(ctx.env.rabbitmqVersion);
  });

  it('declares them in the broker as rabbitmqctl would have', async () => {
    const user = await ctx.broker.get('/users/jack');
    expect(user.body.tags).toEqual(['jack_tag']);
    const perm = await ctx.broker.get('/permissions/jack_vhost/jack');
    expect(perm.body).toMatchObject({ configure: '.*', write: '.*', read: '.*' });
    const queue = await ctx.broker.get('/queues/jack_vhost/hello');
    expect(queue.body).toMatchObject({ durable: true, auto_delete: false });
  });

  it('lets jack publish to hello through the default exchange and consume it back', async () => {
    const conn = await amqp.connect(amqpUrl('jack', 'avtech', 'jack_vhost'));
    try {
      const ch = await conn.createConfirmChannel();
      const body = `hello ${Date.now()}`;
      ch.sendToQueue('hello', Buffer.from(body));
      await ch.waitForConfirms();
      const msg = await eventually(
        () => ch.get('hello', { noAck: true }),
        (m) => m !== false,
        { what: 'message' },
      );
      expect(msg && msg.content.toString()).toBe(body);
    } finally {
      await conn.close();
    }
  });

  it('with examples/celery/ applied, jack publishes through the celery exchange into hello', async () => {
    expect(await kubectl('apply', '-f', 'examples/celery/')).toContain(
      'rabbitbinding.warren.dev/celery-to-hello created',
    );
    await kubectl('wait', '--for=condition=Ready', 'rabbit', '--all', '--timeout=60s');
    const conn = await amqp.connect(amqpUrl('jack', 'avtech', 'jack_vhost'));
    try {
      const ch = await conn.createConfirmChannel();
      ch.publish('celery', 'hello', Buffer.from('task via celery'));
      ch.publish('celery', 'elsewhere', Buffer.from('not for hello'));
      await ch.waitForConfirms();
      const msg = await ch.get('hello', { noAck: true });
      expect(msg && msg.content.toString()).toBe('task via celery');
      expect(await ch.get('hello', { noAck: true })).toBe(false);
    } finally {
      await conn.close();
    }
  });

  it('refuses a user without permissions on jack_vhost', async () => {
    expect(await ctx.broker.put('/users/nobody', { password: 'nobody', tags: '' })).toBe(201);
    await expect(amqp.connect(amqpUrl('nobody', 'nobody', 'jack_vhost'))).rejects.toThrow(
      /ACCESS_REFUSED|NOT_ALLOWED|ConnectionClose/,
    );
  });

  it('refuses jack with a wrong password', async () => {
    await expect(amqp.connect(amqpUrl('jack', 'wrong', 'jack_vhost'))).rejects.toThrow(
      /ACCESS_REFUSED|403|access/i,
    );
  });
});
