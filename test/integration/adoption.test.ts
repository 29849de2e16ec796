import amqp from 'amqplib';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readTree, warren } from '../support/cli.ts';
import type { TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { aSurveyStartedNow, type RunningOperator } from '../support/operator.ts';
import { useOperator } from '../support/suite.ts';
import { eventually } from '../support/wait.ts';

// A broker made by hand (management API, as rabbitmqctl or the UI would), with applications
// publishing and consuming, is exported and the manifests applied: warren takes every object
// over without one write to the broker, and no message is lost or consumer disturbed.
let ctx: TestContext;
let op: RunningOperator;
useOperator(import.meta.url, (c, o) => ((ctx = c), (op = o)), {
  resyncMs: 3_600_000,
  cleanup: async (c) => void (await c.broker.del(`/users/${enc(`${c.namespace}-shop`)}`)),
});

const WRITES = ['PUT', 'POST', 'DELETE'];

async function post(path: string, body: unknown): Promise<number> {
  const auth = Buffer.from(`${ctx.env.adminUser}:${ctx.env.adminPassword}`).toString('base64');
  const res = await fetch(`${ctx.env.managementUrl}/api${path}`, {
    method: 'POST',
    headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return res.status;
}

async function handMade(user: string): Promise<void> {
  const v = enc(ctx.vhost);
  const b = ctx.broker;
  const ok = (status: number) => expect([201, 204]).toContain(status);
  ok(await b.put(`/vhosts/${v}`, { description: 'the shop, made by hand', tags: ['legacy'] }));
  ok(await b.put(`/vhost-limits/${v}/max-queues`, { value: 100 }));
  ok(await b.put(`/users/${enc(user)}`, { password: 'shop-pw', tags: 'management' }));
  ok(await b.put(`/user-limits/${enc(user)}/max-connections`, { value: 10 }));
  ok(await b.put(`/permissions/${v}/${enc(user)}`, { configure: '^shop\\.', write: '.*', read: '.*' }));
  ok(
    await b.put(`/topic-permissions/${v}/${enc(user)}`, {
      exchange: 'amq.topic',
      write: '^shop\\.',
      read: '.*',
    }),
  );
  ok(await b.put(`/exchanges/${v}/shop.unrouted`, { type: 'fanout', durable: true }));
  ok(
    await b.put(`/exchanges/${v}/shop`, {
      type: 'topic',
      durable: true,
      arguments: { 'alternate-exchange': 'shop.unrouted' },
    }),
  );
  ok(await b.put(`/queues/${v}/shop.eu`, { durable: true, arguments: { 'x-max-length': 100000 } }));
  ok(
    await b.put(`/queues/${v}/shop.us`, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 10 },
    }),
  );
  ok(
    await b.put(`/queues/${v}/shop.log`, {
      durable: true,
      arguments: { 'x-queue-type': 'stream', 'x-max-age': '1D' },
    }),
  );
  ok(await post(`/bindings/${v}/e/shop/q/shop.eu`, { routing_key: 'eu.#', arguments: {} }));
  ok(await post(`/bindings/${v}/e/shop/q/shop.us`, { routing_key: 'us.#', arguments: {} }));
  ok(await post(`/bindings/${v}/e/shop/q/shop.log`, { routing_key: '#', arguments: {} }));
  ok(
    await b.put(`/policies/${v}/shop-bytes`, {
      pattern: '^shop\\.',
      definition: { 'max-length-bytes': 100_000_000 },
      'apply-to': 'queues',
      priority: 1,
    }),
  );
  ok(
    await b.put(`/operator-policies/${v}/cap`, {
      pattern: '.*',
      definition: { 'max-length': 500_000 },
      'apply-to': 'queues',
    }),
  );
}

/** Writes (PUT, POST, DELETE) warren sent to the broker since it started. */
function writes(): Record<string, number> {
  const stats = op.operator.brokerRequests().get(`${ctx.namespace}/local`);
  return Object.fromEntries(WRITES.map((m) => [m, stats?.byMethod[m] ?? 0]));
}

const kubectl = async (...args: string[]) =>
  (
    await promisify(execFile)(
      ctx.env.kubectl,
      ['--kubeconfig', ctx.env.kubeconfigPath, '-n', ctx.namespace, ...args],
      { encoding: 'utf8', timeout: 150_000 },
    )
  ).stdout;

describe('adopting a hand-made broker', () => {
  it('takes over every object with zero broker writes, while messages flow and none is lost', async () => {
    // Where the time went, for a run that ends at the bound on a loaded machine.
    const started = Date.now();
    const step = (what: string) =>
      console.log(`adoption: ${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const user = `${ctx.namespace}-shop`;
    await handMade(user);
    step('hand-made broker');
    const work = mkdtempSync(join(ctx.env.dir, `adopt-${ctx.namespace}-`));
    const env = {
      RABBITMQ_MANAGEMENT_URL: ctx.env.managementUrl,
      RABBITMQ_ADMIN_USER: ctx.env.adminUser,
      RABBITMQ_ADMIN_PASSWORD: ctx.env.adminPassword,
    };

    // The application: a consumer on shop.eu, and a publisher running through the whole adoption.
    const host = new URL(ctx.env.amqpUrl).host;
    const conn = await amqp.connect(`amqp://${enc(user)}:shop-pw@${host}/${enc(ctx.vhost)}`);
    const published: string[] = [];
    const consumedEu: string[] = [];
    let cancelled = false;
    let publishing = true;
    const consumer = await conn.createChannel();
    await consumer.consume('shop.eu', (m) => {
      if (!m)
        cancelled = true; // the broker cancelled the consumer (its queue was deleted)
      else {
        consumedEu.push(m.content.toString());
        consumer.ack(m);
      }
    });
    const ch = await conn.createConfirmChannel();
    const publisher = (async () => {
      for (let i = 0; publishing && i < 100_000; i++) {
        for (const region of ['eu', 'us']) {
          const body = `${region}-${i}`;
          ch.publish('shop', `${region}.order`, Buffer.from(body), { persistent: true });
          published.push(body);
        }
        if (i % 10 === 9) await ch.waitForConfirms();
        await sleep(10);
      }
      await ch.waitForConfirms();
    })();
    // Awaited below; a failure before then (the connection closed) is reported there, not as an
    // unhandled rejection.
    publisher.catch(() => undefined);

    try {
      // warren has surveyed the broker since the hand-made objects exist (two surveys ending after
      // now: the second started after the first ended). Users are broker-wide: one made after the
      // last survey would be declared once more, identically, without a read (README "Adoption").
      await aSurveyStartedNow(ctx, 'local', 'a survey started after the hand-made objects');
      const before = writes();
      step('two surveys since');

      const exported = await warren(['export', '--vhost', ctx.vhost, '--dir', join(work, 'm')], env);
      expect(exported.code, exported.stderr).toBe(0);
      step('exported');
      const files = readTree(join(work, 'm'));
      expect(Object.keys(files).sort()).toEqual([
        'bindings.yaml',
        'exchanges.yaml',
        'kustomization.yaml',
        'operatorpolicies.yaml',
        'permissions.yaml',
        'policies.yaml',
        'queues.yaml',
        'topicpermissions.yaml',
        'users.yaml',
        'vhosts.yaml',
      ]);
      // The diff agrees before anything is applied: nothing to create or change.
      const planned = await warren(
        [
          'diff',
          join(work, 'm'),
          join(work, 'm-credentials'),
          '--vhost',
          ctx.vhost,
          '-n',
          ctx.namespace,
          '-o',
          'json',
        ],
        env,
      );
      expect(planned.code, planned.stdout + planned.stderr).toBe(0);
      expect(JSON.parse(planned.stdout).summary).toEqual({
        create: 0,
        change: 0,
        conflict: 0,
        invalid: 0,
        refused: 0,
        unchanged: 14,
        unmanaged: 0,
      });
      step('diff');

      await kubectl('apply', '-k', join(work, 'm-credentials'));
      await kubectl('apply', '-k', join(work, 'm'));
      step('applied');
      await kubectl('wait', '--for=condition=Ready', 'rabbit', '--all', '--timeout=120s');
      step('all Ready');
      // Two surveys after everything is Ready (the second started after it) checked every object
      // in bulk, found nothing to repair, and queued nothing.
      const readyAt = Date.now();
      let surveys = 0;
      let last = '';
      const broker = await eventually(
        () => ctx.get('rabbitbrokers', 'local'),
        (b) => {
          const t = b.status?.lastSurveyTime ?? '';
          if (Date.parse(t) > readyAt && t !== last) {
            surveys++;
            last = t;
          }
          return surveys >= 2;
        },
        { what: 'two surveys after adoption', timeoutMs: 30_000, intervalMs: 200 },
      );
      step('two surveys after');
      expect(broker.status.survey.drifted).toBe(0);
      const after = writes();
      console.log(`broker writes during adoption: ${JSON.stringify({ before, after })}`);
      expect(after).toEqual(before);
      // Every object of the vhost is now declared by a resource.
      const vhost = await ctx.get('rabbitvhosts', vhostName(files));
      expect(vhost.status.unmanagedObjects ?? 0).toBe(0);
    } finally {
      publishing = false;
      await publisher;
    }

    // Nothing lost: every confirmed message is where its routes send it.
    const eu = published.filter((b) => b.startsWith('eu-'));
    const us = published.filter((b) => b.startsWith('us-'));
    expect(eu.length).toBeGreaterThan(50);
    await eventually(
      async () => consumedEu.length,
      (n) => n >= eu.length,
      { what: 'eu consumed' },
    );
    expect(consumedEu).toEqual(eu);
    expect(cancelled).toBe(false);
    const usGot: string[] = [];
    for (let m = await ch.get('shop.us', { noAck: true }); m; m = await ch.get('shop.us', { noAck: true }))
      usGot.push(m.content.toString());
    expect(usGot).toEqual(us);
    await ch.prefetch(1000);
    const log: string[] = [];
    await ch.consume('shop.log', (m) => m && (log.push(m.content.toString()), ch.ack(m)), {
      arguments: { 'x-stream-offset': 'first' },
    });
    await eventually(
      async () => log.length,
      (n) => n >= published.length,
      { what: 'the stream read' },
    );
    expect(log).toEqual(published);
    step('every message read');
    await conn.close();
    // Many steps, each waiting for a real process (surveys, kubectl, the CLI): bounded generously
    // so that a loaded 2-core machine does not end it early.
  }, 180_000);
});

/** The RabbitVhost's metadata.name in the export. */
function vhostName(files: Record<string, string>): string {
  return /name: (\S+)/.exec(files['vhosts.yaml']!.split('metadata:')[1]!)![1]!;
}
