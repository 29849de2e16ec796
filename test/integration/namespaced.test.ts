import * as k8s from '@kubernetes/client-node';
import amqp from 'amqplib';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '../../src/runtime/kubeconfig.ts';
import { Kube, namespaceRefusesContent } from '../../src/runtime/kube.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { REPO } from '../support/environment.ts';
import { enc } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { createCluster, installClusterCRD } from '../support/rabbitmqcluster.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// The namespaced installation: the operator runs with the token of a ServiceAccount bound only to
// the shipped deploy/namespaced/rbac-namespace.yaml in each namespace it watches (two here, so
// WATCH_NAMESPACE is a list), never an admin token. The seed scenario and its deletion work; a
// permission missing from the shipped Role leaves a cache unsynced or a write refused, and this
// file fails.
let ctx: TestContext;
let op: RunningOperator | undefined;
let other: string;
let tokenKc: k8s.KubeConfig;
let tokenKcPath: string;
const extraNamespaces: string[] = [];
const jack = () => `jack-${ctx.namespace}`;
const vhost = () => `jack_vhost-${ctx.namespace}`;

const kubectl = async (namespace: string, ...args: string[]) =>
  (
    await promisify(execFile)(
      ctx.env.kubectl,
      ['--kubeconfig', ctx.env.kubeconfigPath, '-n', namespace, ...args],
      { cwd: REPO, encoding: 'utf8', timeout: 90_000 },
    )
  ).stdout;

/** The shipped Role and RoleBinding, applied in `namespace`, bound to the test's ServiceAccount. */
async function bindShippedRbac(namespace: string): Promise<void> {
  const docs = parseAllDocuments(
    readFileSync(join(REPO, 'deploy/namespaced/rbac-namespace.yaml'), 'utf8'),
  ).map((d) => d.toJS());
  // Only the subject's namespace differs from the shipped file: the ServiceAccount lives in the test namespace.
  for (const d of docs) {
    if (d.kind === 'RoleBinding') d.subjects[0].namespace = ctx.namespace;
  }
  const file = join(ctx.env.dir, `rbac-${namespace}.yaml`);
  writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
  await kubectl(namespace, 'apply', '-f', file);
}

/** A kubeconfig for the same API server that authenticates with the ServiceAccount's token. */
async function serviceAccountKubeconfig(): Promise<string> {
  const res = await ctx.core.createNamespacedServiceAccountToken({
    name: 'warren',
    namespace: ctx.namespace,
    body: { spec: { expirationSeconds: 3600 } },
  });
  const cluster = ctx.kc.getCurrentCluster()!;
  tokenKc = new k8s.KubeConfig();
  tokenKc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'warren', token: res.status!.token }],
    contexts: [{ name: 'warren', cluster: cluster.name, user: 'warren' }],
    currentContext: 'warren',
  });
  const path = join(ctx.env.dir, `kubeconfig-sa-${ctx.namespace}`);
  writeFileSync(path, tokenKc.exportConfig(), { mode: 0o600 });
  tokenKcPath = path;
  return path;
}

/** examples/seed/ with the broker-side names made this file's own (other files use jack too). */
function seedDir(): string {
  const dir = join(ctx.env.dir, `seed-${ctx.namespace}`);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(join(REPO, 'examples/seed'))) {
    const d = parseAllDocuments(readFileSync(join(REPO, 'examples/seed', f), 'utf8'))[0]!.toJS();
    if (d.kind === 'RabbitVhost') d.spec.name = vhost();
    if (d.kind === 'RabbitUser') d.spec.username = jack();
    if (d.spec?.vhost === 'jack_vhost') d.spec.vhost = vhost();
    writeFileSync(join(dir, f), stringify(d));
  }
  return dir;
}

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  other = `${ctx.namespace}-b`;
  await ctx.core.createNamespace({ body: { metadata: { name: other } } });
  extraNamespaces.push(other);
  await createBroker(ctx);
  await ctx.patchSpec('rabbitbrokers', 'local', { allowedNamespaces: [other] });
  await ctx.core.createNamespacedServiceAccount({
    namespace: ctx.namespace,
    body: { metadata: { name: 'warren' } },
  });
  await bindShippedRbac(ctx.namespace);
  await bindShippedRbac(other);
  op = await startOperator(ctx, {
    kubeconfigPath: await serviceAccountKubeconfig(),
    namespaces: [ctx.namespace, other],
    serviceHost: () => '127.0.0.1',
  });
});

afterAll(async () => {
  await op?.stop();
  await ctx?.broker.del(`/vhosts/${enc(vhost())}`);
  await ctx?.broker.del(`/users/${enc(jack())}`);
  for (const ns of extraNamespaces) await ctx?.core.deleteNamespace({ name: ns }).catch(() => undefined);
  await ctx?.cleanup();
});

describe('the namespaced installation, with only its shipped Roles', () => {
  it('runs on a token that is no admin: nothing cluster-wide, nothing outside the watched namespaces', async () => {
    const core = tokenKc.makeApiClient(k8s.CoreV1Api);
    const forbidden = async (p: Promise<unknown>) =>
      (await p.then(
        () => 200,
        (e) => e.code,
      )) === 403;
    expect(await forbidden(core.listNamespace())).toBe(true);
    expect(await forbidden(core.readNamespace({ name: ctx.namespace }))).toBe(true);
    expect(await forbidden(core.listSecretForAllNamespaces())).toBe(true);
    expect(await forbidden(core.listNamespacedSecret({ namespace: 'default' }))).toBe(true);
    expect(await forbidden(core.listNamespacedSecret({ namespace: other }))).toBe(false);
  });

  it('makes the seed scenario Ready, and jack can publish and consume', async () => {
    await kubectl(ctx.namespace, 'apply', '-f', seedDir());
    for (const [plural, name] of [
      ['rabbitbrokers', 'local'],
      ['rabbitvhosts', 'jack-vhost'],
      ['rabbitusers', 'jack'],
      ['rabbitpermissions', 'jack-on-jack-vhost'],
      ['rabbitqueues', 'hello'],
    ] as const) {
      await eventually(() => ctx.get(plural, name), isReadyNow, { what: `${plural}/${name} Ready` });
    }
    const u = new URL(ctx.env.amqpUrl);
    const conn = await amqp.connect(`amqp://${enc(jack())}:avtech@${u.host}/${enc(vhost())}`);
    try {
      const ch = await conn.createConfirmChannel();
      ch.sendToQueue('hello', Buffer.from('namespaced'));
      await ch.waitForConfirms();
      const m = await eventually(
        () => ch.get('hello', { noAck: true }),
        (x) => x !== false,
        { what: 'a message' },
      );
      expect(m && m.content.toString()).toBe('namespaced');
    } finally {
      await conn.close();
    }
  });

  it('serves a second watched namespace through the same broker', async () => {
    const custom = ctx.custom;
    await custom.createNamespacedCustomObject({
      group: 'warren.dev',
      version: 'v1alpha1',
      namespace: other,
      plural: 'rabbitqueues',
      body: {
        apiVersion: 'warren.dev/v1alpha1',
        kind: 'RabbitQueue',
        metadata: { name: 'from-b' },
        spec: { brokerRef: { name: 'local', namespace: ctx.namespace }, vhost: vhost() },
      },
    });
    const get = () =>
      custom.getNamespacedCustomObject({
        group: 'warren.dev',
        version: 'v1alpha1',
        namespace: other,
        plural: 'rabbitqueues',
        name: 'from-b',
      });
    await eventually(get, isReadyNow, { what: 'rabbitqueues from-b Ready' });
    expect((await ctx.broker.get(`/queues/${enc(vhost())}/from-b`)).status).toBe(200);
    await custom.deleteNamespacedCustomObject({
      group: 'warren.dev',
      version: 'v1alpha1',
      namespace: other,
      plural: 'rabbitqueues',
      name: 'from-b',
    });
    await eventually(
      () => ctx.broker.get(`/queues/${enc(vhost())}/from-b`),
      (r) => r.status === 404,
      { what: 'queue from-b deleted in the broker' },
    );
  });

  it('discovers a broker from a RabbitmqCluster (its Service and default user Secret) with the same rights', async () => {
    await installClusterCRD(ctx);
    await createCluster(ctx, {
      name: 'rabbit',
      managementPort: Number(new URL(ctx.env.managementUrl).port),
      username: ctx.env.adminUser,
      password: ctx.env.adminPassword,
    });
    await ctx.create('rabbitbrokers', 'discovered', { rabbitmqClusterRef: { name: 'rabbit' } });
    await eventually(() => ctx.get('rabbitbrokers', 'discovered'), isReadyNow, { what: 'discovered Ready' });
  });

  it('deletes the seed: finalizers run, and nothing of it is left in the broker', async () => {
    await kubectl(ctx.namespace, 'delete', '-f', seedDir(), '--wait=true', '--timeout=60s');
    for (const [plural, name] of [
      ['rabbitqueues', 'hello'],
      ['rabbitpermissions', 'jack-on-jack-vhost'],
      ['rabbitusers', 'jack'],
      ['rabbitvhosts', 'jack-vhost'],
    ] as const) {
      await ctx.waitGone(plural, name, 60_000);
    }
    expect((await ctx.broker.get(`/vhosts/${enc(vhost())}`)).status).toBe(404);
    expect((await ctx.broker.get(`/users/${enc(jack())}`)).status).toBe(404);
  });

  it('reports a broker in a namespace it does not watch as not found, and lets such a resource go', async () => {
    const custom = ctx.custom;
    const ref = {
      group: 'warren.dev',
      version: 'v1alpha1',
      namespace: other,
      plural: 'rabbitqueues',
      name: 'astray',
    };
    await custom.createNamespacedCustomObject({
      ...ref,
      body: {
        apiVersion: 'warren.dev/v1alpha1',
        kind: 'RabbitQueue',
        metadata: { name: 'astray' },
        spec: { brokerRef: { name: 'local', namespace: 'default' } },
      },
    });
    const q = await eventually(
      () => custom.getNamespacedCustomObject(ref),
      (x) => readyOf(x)?.status === 'False' && !!x.metadata.finalizers?.length,
      { what: 'astray refused' },
    );
    expect(readyOf(q).reason).toBe('BrokerNotFound');
    // Its broker can never be read with these rights: the finalizer goes, nothing is deleted.
    await custom.deleteNamespacedCustomObject(ref);
    await eventually(
      () =>
        custom.getNamespacedCustomObject(ref).then(
          () => false,
          (e) => e.code === 404,
        ),
      (gone) => gone,
      { what: 'astray gone' },
    );
  });

  it('tells a terminating namespace without reading Namespaces (a dry-run Event)', async () => {
    const kube = new Kube(KubeConfig.fromFile(tokenKcPath));
    expect(await namespaceRefusesContent(kube, other)).toBe(false);
    // A ConfigMap with a finalizer of ours keeps the namespace terminating while we look.
    await ctx.core.createNamespacedConfigMap({
      namespace: other,
      body: { metadata: { name: 'hold', finalizers: ['warren.dev/test-hold'] } },
    });
    await ctx.core.deleteNamespace({ name: other });
    expect(
      await eventually(
        () => namespaceRefusesContent(kube, other),
        (t) => t,
        { what: 'terminating seen' },
      ),
    ).toBe(true);
    await ctx.core.patchNamespacedConfigMap(
      { namespace: other, name: 'hold', body: [{ op: 'remove', path: '/metadata/finalizers' }] },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
  });
});
