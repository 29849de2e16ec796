import * as k8s from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/common.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { startControlPlane, type ControlPlane } from '../support/control-plane.ts';
import { installCRDs, REPO } from '../support/environment.ts';
import { startSlowProxy, type SlowProxy } from '../support/http-proxy.ts';
import { enc } from '../support/management.ts';
import { createBroker } from '../support/operator.ts';
import { startMain } from '../support/main-process.ts';
import type { Managed } from '../support/processes.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// Upgrading warren changes nothing: the CRDs and operator of the last release (the last commit of
// main that landed before the status conditions for GitOps tools came) declare one object of every
// kind; then the CRDs and the operator are upgraded to this checkout's. The new operator makes no
// broker write, no resource leaves Ready, and each writes its status once (the conditions the new
// version adds). A control plane of this file's own: the old CRDs must not reach the other files.
const FROM = '8dde1eb75bc61d9313926b279371066f8a2c1f58';
const ON_4X = !!process.env.WARREN_TEST_BROKER && process.env.WARREN_TEST_BROKER !== '3.10';

let cp: ControlPlane;
let ctx: TestContext;
let proxy: SlowProxy;
let old: string;
let operator: Managed | undefined;
const b = { name: 'local' };

/** `src/main.ts` of a source tree, watching this file's namespace. */
async function startWarren(root: string, name: string): Promise<Managed> {
  const main = await startMain({
    name,
    root,
    namespace: ctx.namespace,
    kubeconfigPath: cp.kubeconfigPath,
    logFile: join(ctx.env.dir, `upgrade-${ctx.namespace}-${name}.log`),
    // Resources found Ready after a restart are reconciled within this (and the survey verifies them).
    env: { WARREN_RESYNC: '15s' },
  });
  return main.proc;
}

beforeAll(async () => {
  const env = inject('env');
  old = join(env.dir, `warren-${FROM.slice(0, 8)}`);
  mkdirSync(old, { recursive: true });
  const archive = execFileSync('git', ['-C', REPO, 'archive', FROM, 'src', 'crds', 'package.json']);
  execFileSync('tar', ['-x', '-C', old], { input: archive });
  symlinkSync(join(REPO, 'node_modules'), join(old, 'node_modules'));

  cp = await startControlPlane(join(env.dir, `kube-upgrade-${process.pid}`));
  await installCRDs(cp.kubeconfigPath, join(old, 'crds'));
  ctx = await testContext(import.meta.url, { kubeconfigPath: cp.kubeconfigPath });
  proxy = await startSlowProxy(ctx.env.managementUrl);
  await createBroker(ctx, 'local', proxy.url);
}, 180_000);
afterAll(async () => {
  await operator?.stop();
  await proxy?.close();
  for (const u of ['app', 'mover']) await ctx?.broker.del(`/users/${enc(`${ctx.namespace}-${u}`)}`);
  await ctx?.broker.del(`/vhosts/${enc(`${ctx.namespace}-own`)}`);
  await ctx?.cleanup().catch(() => undefined);
  await cp?.stop();
});

/** One resource of every kind, in the test's vhost (and one vhost of their own). */
function everyKind(): Array<[plural: string, name: string, spec: Record<string, unknown>]> {
  const vhost = ctx.vhost;
  const p = ctx.namespace;
  return [
    ['rabbitvhosts', 'own', { brokerRef: b, name: `${p}-own`, description: 'upgrade' }],
    ['rabbitusers', 'app', { brokerRef: b, username: `${p}-app`, tags: ['management'] }],
    [
      'rabbitpermissions',
      'app',
      { brokerRef: b, vhost, userRef: { name: 'app' }, configure: '', read: '.*', write: '.*' },
    ],
    [
      'rabbittopicpermissions',
      'app',
      { brokerRef: b, vhost, userRef: { name: 'app' }, exchange: 'amq.topic', read: '^a\\.', write: '^a\\.' },
    ],
    ['rabbitqueues', 'jobs', { brokerRef: b, vhost, type: 'quorum', arguments: { 'x-max-length': 100 } }],
    ['rabbitqueues', 'outbox', { brokerRef: b, vhost }],
    ['rabbitexchanges', 'events', { brokerRef: b, vhost, type: 'topic' }],
    [
      'rabbitbindings',
      'events-jobs',
      { brokerRef: b, vhost, source: 'events', destination: 'jobs', routingKey: 'job.#' },
    ],
    [
      'rabbitpolicies',
      'ttl',
      { brokerRef: b, vhost, pattern: '^ttl\\.', definition: { 'message-ttl': 60000 } },
    ],
    [
      'rabbitoperatorpolicies',
      'cap',
      { brokerRef: b, vhost, pattern: '^cap\\.', definition: { 'max-length': 9 } },
    ],
    [
      'rabbitshovels',
      'outbox-to-jobs',
      {
        brokerRef: b,
        vhost,
        uriSecretRef: { name: 'local-uris' },
        source: { queue: 'outbox' },
        destination: { queue: 'jobs' },
      },
    ],
    ['rabbitfederations', 'upstream', { brokerRef: b, vhost, uriSecretRef: { name: 'upstream-uri' } }],
    ['rabbitfederationupstreamsets', 'set', { brokerRef: b, vhost, upstreams: [{ name: 'upstream' }] }],
    ...(ON_4X
      ? [
          ['rabbitsuperstreams', 'orders', { brokerRef: b, vhost, partitions: 2 }] as [
            string,
            string,
            Record<string, unknown>,
          ],
        ]
      : []),
  ];
}

const list = async (plural: string) =>
  (await ctx.custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ctx.namespace,
    plural,
  })) as { items: any[]; metadata: { resourceVersion: string } };

describe('upgrading the CRDs and the operator', () => {
  it('makes no broker write, keeps every resource Ready, and writes each status once', async () => {
    const amqp = new URL(ctx.env.amqpUrl);
    const uri = `amqp://${enc(ctx.env.adminUser)}:${enc(ctx.env.adminPassword)}@${amqp.host}/${enc(ctx.vhost)}`;
    for (const [name, stringData] of [
      ['local-uris', { srcUri: uri, destUri: uri }],
      ['upstream-uri', { uri }],
    ] as const)
      await ctx.core.createNamespacedSecret({
        namespace: ctx.namespace,
        body: { metadata: { name }, stringData },
      });
    const resources = everyKind();
    for (const [plural, name, spec] of resources)
      await ctx.create(plural, name, spec).catch((e) => {
        throw new Error(`${plural}/${name}: ${e.body}`);
      });

    operator = await startWarren(old, 'old');
    for (const [plural, name] of resources)
      await eventually(() => ctx.get(plural, name), isReadyNow, {
        timeoutMs: 60_000,
        what: `${plural}/${name} Ready under ${FROM.slice(0, 8)}`,
      });
    await operator.stop();
    operator = undefined;

    // (A changed CRD ends the watches of its resources: upgraded before they start.)
    await installCRDs(cp.kubeconfigPath);
    // From here on: every broker request, and every version of every resource the API server stores.
    const start = proxy.log.length;
    const versions = new Map<string, any[]>();
    const watches: AbortController[] = [];
    // A watch that ended before the checks would have missed versions.
    const endedEarly: string[] = [];
    let stopped = false;
    const plurals = [...new Set(resources.map(([plural]) => plural))];
    for (const plural of plurals) {
      // (The API server answers 429 while it sets up the upgraded CRD's storage.)
      const { metadata } = await eventually(
        () => list(plural),
        () => true,
        { what: `${plural} listed` },
      );
      watches.push(
        await new k8s.Watch(ctx.kc).watch(
          `/apis/${GROUP}/${VERSION}/namespaces/${ctx.namespace}/${plural}`,
          { resourceVersion: metadata.resourceVersion },
          (type, o: any) => {
            const id = `${plural}/${o.metadata.name}`;
            versions.set(id, [...(versions.get(id) ?? []), { type, ...o }]);
          },
          () => !stopped && endedEarly.push(plural),
        ),
      );
    }
    try {
      operator = await startWarren(REPO, 'new');
      // The new version's own mark on each resource: the Stalled condition it adds.
      for (const [plural, name] of resources)
        await eventually(
          () => ctx.get(plural, name),
          (o) => o.status?.conditions?.some((c: any) => c.type === 'Stalled'),
          { timeoutMs: 60_000, what: `${plural}/${name} reconciled by the new operator` },
        );
      // Two whole surveys by the new operator after that: drift it would repair is found by then.
      const surveyed = async () => (await ctx.get('rabbitbrokers', 'local')).status?.lastSurveyTime;
      for (let i = 0; i < 2; i++) {
        const seen = await surveyed();
        await eventually(surveyed, (t) => t !== seen, { timeoutMs: 30_000, what: 'a survey' });
      }

      expect(endedEarly).toEqual([]);
      // The proxy sees both operators' requests: the old one's declarations, the new one's reads.
      expect(proxy.log.slice(0, start).filter((l) => l.startsWith('PUT ')).length).toBeGreaterThan(10);
      expect(proxy.log.slice(start).filter((l) => l.startsWith('GET ')).length).toBeGreaterThan(10);
      const writes = proxy.log.slice(start).filter((l) => !l.startsWith('GET '));
      expect(writes).toEqual([]);
      for (const [plural, name] of resources) {
        const id = `${plural}/${name}`;
        const seen = versions.get(id) ?? [];
        expect(
          seen.filter((o) => !isReadyNow(o)).map((o) => readyOf(o)),
          `${id} left Ready`,
        ).toEqual([]);
        expect(
          seen.map((o) => o.type),
          `${id}: one status write`,
        ).toEqual(['MODIFIED']);
      }
    } finally {
      stopped = true;
      for (const w of watches) w.abort();
    }
  }, 300_000);
});
