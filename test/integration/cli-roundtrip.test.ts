import amqp from 'amqplib';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTree, warren } from '../support/cli.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { REPO } from '../support/environment.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';
import { startBroker, type Broker } from '../support/rabbitmq.ts';

// A broker made from a realistic definitions file (A) is exported, the manifests are applied to
// the control plane with warren running against a second, empty broker (B), and B's export is the
// same, file for file; so is the export of the definitions file alone, without any broker. The
// file has a shovel (it runs in both brokers) and a federation upstream with credentials in its
// URIs, and an upstream set; on 4.x (3.10 has no super streams) a super stream too.
const FIXTURE = join(REPO, 'test', 'fixtures', 'definitions.json');
const SUPER_STREAM = join(REPO, 'test', 'fixtures', 'definitions-super-stream.json');
let ctx: TestContext;
/** The definitions A is loaded from: the fixture, with the super stream's objects on 4.x. */
let definitions: string;
let superStreams: boolean;
/** Resources exported: 41 from the fixture, and the super stream. */
let total: number;
let A: Broker;
let B: Broker;
let op: RunningOperator;
let work: string;

const envOf = (b: Broker) => ({
  RABBITMQ_MANAGEMENT_URL: b.managementUrl,
  RABBITMQ_ADMIN_USER: b.username,
  RABBITMQ_ADMIN_PASSWORD: b.password,
});

const kubectl = async (...args: string[]) =>
  (
    await promisify(execFile)(
      ctx.env.kubectl,
      ['--kubeconfig', ctx.env.kubeconfigPath, '-n', ctx.namespace, ...args],
      { encoding: 'utf8', timeout: 150_000 },
    )
  ).stdout;

async function exportOk(args: string[], env: Record<string, string> = {}) {
  const r = await warren(['export', ...args], env);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  work = mkdtempSync(join(ctx.env.dir, `cli-${ctx.namespace}-`));
  superStreams = Number(ctx.env.rabbitmqVersion.split('.')[0]) >= 4;
  const defs = JSON.parse(readFileSync(FIXTURE, 'utf8'));
  if (superStreams) {
    const extra = JSON.parse(readFileSync(SUPER_STREAM, 'utf8'));
    for (const s of ['exchanges', 'queues', 'bindings']) defs[s].push(...extra[s]);
  }
  definitions = join(work, 'definitions.json');
  writeFileSync(definitions, JSON.stringify(defs, null, 2));
  total = 41 + (superStreams ? 1 : 0);
  [A, B] = await Promise.all([
    startBroker(join(ctx.env.dir, `broker-a-${ctx.namespace}`)),
    startBroker(join(ctx.env.dir, `broker-b-${ctx.namespace}`)),
  ]);
  // Broker A: loaded with the definitions import, as a hand-made broker's backup would be.
  const res = await fetch(`${A.managementUrl}/api/definitions`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${A.username}:${A.password}`).toString('base64')}`,
      'content-type': 'application/json',
    },
    body: readFileSync(definitions),
  });
  expect(res.status, await res.text()).toBe(204);
  // Broker B: empty; warren manages it as RabbitBroker `local` (the export's default brokerRef).
  await ctx.core.createNamespacedSecret({
    namespace: ctx.namespace,
    body: { metadata: { name: 'b-admin' }, stringData: { username: B.username, password: B.password } },
  });
  await ctx.create('rabbitbrokers', 'local', {
    endpoint: B.managementUrl,
    credentialsSecretRef: { name: 'b-admin' },
    surveyInterval: '5s',
  });
  op = await startOperator(ctx, { resyncMs: 3_600_000 });
}, 180_000);

afterAll(async () => {
  await op?.stop();
  await Promise.all([A?.stop(), B?.stop()]);
  await ctx?.cleanup();
});

describe('warren export, applied to another broker', () => {
  it('exports broker A exactly as it exports the definitions file A was loaded from', async () => {
    const live = await exportOk(['--dir', join(work, 'a')], envOf(A));
    // The super stream's exchange, partitions and bindings are its own, not exported apart.
    expect(live.stderr).toMatch(/RabbitBinding +9 +bindings\.yaml/);
    expect(live.stderr).toMatch(/RabbitShovel +1 +shovels\.yaml/);
    expect(live.stderr).toMatch(/RabbitFederationUpstreamSet +1 +federationupstreamsets\.yaml/);
    if (superStreams) expect(live.stderr).toMatch(/RabbitSuperStream +1 +superstreams\.yaml/);
    await exportOk(['--definitions', definitions, '--dir', join(work, 'file')]);
    expect(readTree(join(work, 'a'))).toEqual(readTree(join(work, 'file')));
    expect(readTree(join(work, 'a-credentials'))).toEqual(readTree(join(work, 'file-credentials')));
    expect(Object.keys(readTree(join(work, 'a')))).toHaveLength(superStreams ? 14 : 13);
    // The upstream's URIs (with their password) are in its Secret, and nowhere in the manifests.
    expect(JSON.stringify(readTree(join(work, 'a')))).not.toMatch(/fed-s3cret|amqps?:\/\//);
    expect(readTree(join(work, 'a-credentials'))['central-upstream-uri.yaml']).toContain(
      'uri: amqps://federator:fed-s3cret@central-1.example.com:5671/orders,amqps://federator:fed-s3cret@central-2.example.com:5671/orders',
    );
  });

  it('shows everything as to be created on the empty broker B, writing nothing', async () => {
    const r = await warren(['diff', join(work, 'a'), join(work, 'a-credentials'), '-o', 'json'], envOf(B));
    expect(r.code, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.summary).toEqual({
      create: total,
      change: 0,
      refused: 0,
      conflict: 0,
      invalid: 0,
      unchanged: 0,
      unmanaged: 0,
    });
    const vhosts = (await (
      await fetch(`${B.managementUrl}/api/vhosts`, {
        headers: { authorization: `Basic ${Buffer.from(`${B.username}:${B.password}`).toString('base64')}` },
      })
    ).json()) as Array<{ name: string }>;
    expect(vhosts.map((v) => v.name)).toEqual(['/']);
  });

  it('rebuilds broker A in broker B: B exports the same files, and its users and routes work', async () => {
    await kubectl('apply', '-k', join(work, 'a-credentials'));
    await kubectl('apply', '-k', join(work, 'a'));
    await kubectl('wait', '--for=condition=Ready', 'rabbit', '--all', '--timeout=120s');
    await exportOk(['--dir', join(work, 'b')], envOf(B));
    expect(readTree(join(work, 'b'))).toEqual(readTree(join(work, 'a')));
    expect(readTree(join(work, 'b-credentials'))).toEqual(readTree(join(work, 'a-credentials')));

    // The users log in to B with their passwords from A (only the hashes travelled), and a message
    // published by orders-app takes A's routes: events -> orders.created, and audit (a stream).
    const url = (user: string, password: string, vhost: string) =>
      `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${new URL(B.amqpUrl).host}/${encodeURIComponent(vhost)}`;
    for (const [user, password, vhost] of [
      ['Billing.Service', 'billing-secret', 'billing/eu'],
      ['reporting', 'reports', 'analytics'],
    ]) {
      const c = await amqp.connect(url(user!, password!, vhost!));
      await c.close();
    }
    const conn = await amqp.connect(url('orders-app', 'test12', 'orders'));
    const reporting = await amqp.connect(url('reporting', 'reports', 'analytics'));
    try {
      const ch = await conn.createConfirmChannel();
      ch.publish('events', 'orders.created', Buffer.from('order 1'), { persistent: true });
      await ch.waitForConfirms();
      const got = await ch.get('orders.created', { noAck: true });
      expect(got && got.content.toString()).toBe('order 1');
      // A stream is read by a consumer from an offset.
      await ch.prefetch(10);
      const first = new Promise<string>((resolve) => {
        void ch.consume('audit', (m) => m && resolve(m.content.toString()), {
          arguments: { 'x-stream-offset': 'first' },
        });
      });
      expect(await Promise.race([first, sleep(10_000).then(() => 'nothing in 10 s')])).toBe('order 1');

      // The shovel runs in B: what reaches orders' dead-letters exchange (order 1 did, through
      // orders.internal's alternate exchange) reaches analytics' reports.daily.
      const rch = await reporting.createChannel();
      const shovelled = new Promise<string>((resolve) => {
        void rch.consume(
          'reports.daily',
          (m) => m && m.content.toString() === 'dead letter 1' && resolve('dead letter 1'),
          { noAck: true },
        );
      });
      ch.publish('dead-letters', '', Buffer.from('dead letter 1'), { persistent: true });
      await ch.waitForConfirms();
      expect(await Promise.race([shovelled, sleep(15_000).then(() => 'nothing in 15 s')])).toBe(
        'dead letter 1',
      );

      // The super stream routes by region to its partition.
      if (superStreams) {
        ch.publish('payments', 'emea', Buffer.from('payment 1'), { persistent: true });
        await ch.waitForConfirms();
        const partition = new Promise<string>((resolve) => {
          void ch.consume('payments-emea', (m) => m && resolve(m.content.toString()), {
            arguments: { 'x-stream-offset': 'first' },
          });
        });
        expect(await Promise.race([partition, sleep(10_000).then(() => 'nothing in 10 s')])).toBe(
          'payment 1',
        );
      }
    } finally {
      await reporting.close();
      await conn.close();
    }
  });

  it('then finds nothing to change, from the files and from the cluster', async () => {
    const files = await warren(['diff', join(work, 'a'), join(work, 'a-credentials')], envOf(B));
    expect(files.code, files.stdout + files.stderr).toBe(0);
    expect(files.stdout).toContain(`0 to create, 0 to change, ${total} unchanged`);
    const cluster = await warren(['diff', '--cluster', '-n', ctx.namespace, '-o', 'json'], {
      ...envOf(B),
      KUBECONFIG: ctx.env.kubeconfigPath,
    });
    expect(cluster.code, cluster.stdout + cluster.stderr).toBe(0);
    const report = JSON.parse(cluster.stdout);
    expect(report.summary).toMatchObject({ create: 0, change: 0, unchanged: total, unmanaged: 0 });
    expect(report.rows.flatMap((r: { notes: string[] }) => r.notes)).toEqual([]);
  });
});
