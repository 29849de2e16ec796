import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/common.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// What GitOps tools make of warren's status, computed by the real libraries on real resources:
// kstatus (sigs.k8s.io/cli-utils, what Flux uses) and the Argo CD health script shipped in
// deploy/optional/, run in gopher-lua as Argo CD runs it (test/tools/, built by test/tools/build.sh).
// Each resource is brought to its state first, by waiting for the condition itself.
const ROOT = join(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'deploy', 'optional', 'argocd-health.lua');

let ctx: TestContext;
let op: RunningOperator | undefined;
let tools: string;
let other: string;

interface Verdict {
  kind: string;
  name: string;
  status: string;
  message: string;
}

const run = (tool: string, args: string[], objects: unknown[]): Verdict[] =>
  execFileSync(join(tools, tool), args, { input: objects.map((o) => JSON.stringify(o)).join('\n') })
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Verdict);
const kstatus = (o: unknown) => run('kstatus', [], [o])[0]!;
const argo = (o: unknown) => run('argocd-health', [SCRIPT], [o])[0]!;

/** Both verdicts, printed (they are the test's report) and returned. */
function verdicts(what: string, o: any) {
  const k = kstatus(o);
  const a = argo(o);
  console.log(
    `${what.padEnd(28)} ${o.kind}/${o.metadata.name} gen ${o.metadata.generation} observed ${o.status?.observedGeneration ?? '-'}: kstatus ${k.status} (${k.message}) | Argo CD ${a.status} (${a.message})`,
  );
  return { kstatus: k, argo: a };
}

const cond = (o: any, type: string) => o?.status?.conditions?.find((c: any) => c.type === type);
const q = (name: string) => ctx.get('rabbitqueues', name);
const queueSpec = (extra: Record<string, unknown> = {}) => ({
  brokerRef: { name: 'local' },
  vhost: ctx.vhost,
  ...extra,
});

beforeAll(async () => {
  tools = execFileSync('bash', [join(ROOT, 'test', 'tools', 'build.sh')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .toString()
    .trim()
    .split('\n')
    .at(-1)!;
  ctx = await testContext(import.meta.url);
  // A second namespace holds a RabbitBroker that does not admit this file's namespace.
  other = `${ctx.namespace}-other`;
  await ctx.core.createNamespace({ body: { metadata: { name: other } } });
  await ctx.core.createNamespacedSecret({
    namespace: other,
    body: {
      metadata: { name: 'closed-admin' },
      stringData: { username: ctx.env.adminUser, password: ctx.env.adminPassword },
    },
  });
  await ctx.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: other,
    plural: 'rabbitbrokers',
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'RabbitBroker',
      metadata: { name: 'closed' },
      spec: { endpoint: ctx.env.managementUrl, credentialsSecretRef: { name: 'closed-admin' } },
    },
  });
  await createBroker(ctx);
  op = await startOperator(ctx, { namespaces: [ctx.namespace, other] });
}, 300_000);

afterAll(async () => {
  await op?.stop();
  await ctx?.core.deleteNamespace({ name: other }).catch(() => undefined);
  await ctx?.cleanup();
});

describe('the Argo CD health check shipped in deploy/optional/', () => {
  it('is installed by argocd-cm-patch.yaml for every warren.dev kind, as the .lua file says', () => {
    const patch = parse(
      readFileSync(join(ROOT, 'deploy', 'optional', 'argocd-cm-patch.yaml'), 'utf8'),
    ) as any;
    expect(patch).toMatchObject({ kind: 'ConfigMap', metadata: { name: 'argocd-cm' } });
    const kinds = readFileSync(join(ROOT, 'crds', 'kustomization.yaml'), 'utf8')
      .match(/warren\.dev_\w+\.yaml/g)!
      .map((f) => /^ {4}kind: (\w+)$/m.exec(readFileSync(join(ROOT, 'crds', f), 'utf8'))![1]!);
    expect(kinds.length).toBeGreaterThan(10);
    const script = readFileSync(SCRIPT, 'utf8');
    for (const kind of kinds)
      expect(patch.data[`resource.customizations.health.${GROUP}_${kind}`], kind).toBe(script);
    expect(Object.keys(patch.data)).toHaveLength(kinds.length);
  });
});

describe('kstatus and Argo CD health on real warren resources', () => {
  it('a Ready resource (and its RabbitBroker) is Current and Healthy', async () => {
    await ctx.create('rabbitqueues', 'fine', queueSpec());
    const o = await eventually(() => q('fine'), isReadyNow, { what: 'fine Ready' });
    expect(cond(o, 'Reconciling')?.status).toBe('False');
    expect(cond(o, 'Stalled')?.status).toBe('False');
    const v = verdicts('Ready', o);
    expect(v.kstatus.status).toBe('Current');
    expect(v.argo.status).toBe('Healthy');
    expect(v.argo.message).toContain('Reconciled');

    const b = await eventually(() => ctx.get('rabbitbrokers', 'local'), isReadyNow, { what: 'broker Ready' });
    const vb = verdicts('Ready (RabbitBroker)', b);
    expect([vb.kstatus.status, vb.argo.status]).toEqual(['Current', 'Healthy']);
  });

  it('a new resource waiting for a dependency gets Reconciling=True at once: InProgress and Progressing', async () => {
    const created = Date.now();
    await ctx.create('rabbitpermissions', 'waits', {
      brokerRef: { name: 'local' },
      vhost: ctx.vhost,
      userRef: { name: 'nobody-yet' },
      configure: '.*',
      write: '.*',
      read: '.*',
    });
    const o = await eventually(
      () => ctx.get('rabbitpermissions', 'waits'),
      (x) => cond(x, 'Reconciling')?.status === 'True',
      { what: 'waits Reconciling' },
    );
    // It used to show no status for 5 s (kstatus reads no status as Current).
    expect(Date.now() - created).toBeLessThan(4000);
    expect(readyOf(o)).toMatchObject({ status: 'False', reason: 'WaitingForDependency' });
    expect(cond(o, 'Stalled')?.status).toBe('False');
    const v = verdicts('WaitingForDependency', o);
    expect(v.kstatus.status).toBe('InProgress');
    expect(v.kstatus.message).toContain('nobody-yet');
    expect(v.argo.status).toBe('Progressing');
    expect(v.argo.message).toContain('WaitingForDependency');
  });

  it('a queue the broker refuses (an invalid argument) is Stalled: Failed and Degraded, this generation observed', async () => {
    await ctx.create('rabbitqueues', 'bad-arg', queueSpec({ arguments: { 'x-max-length': 'many' } }));
    const o = await eventually(
      () => q('bad-arg'),
      (x) => cond(x, 'Stalled')?.status === 'True',
      {
        what: 'bad-arg Stalled',
      },
    );
    expect(readyOf(o).reason).toBe('Rejected');
    expect(o.status.observedGeneration).toBe(o.metadata.generation);
    expect(cond(o, 'Reconciling')?.status).toBe('False');
    const v = verdicts('Rejected (invalid argument)', o);
    expect(v.kstatus.status).toBe('Failed');
    expect(v.kstatus.message).toContain('x-max-length');
    expect(v.argo.status).toBe('Degraded');
    expect(v.argo.message).toMatch(/^Rejected: .*x-max-length/);
  });

  it('an inequivalent queue made outside warren is Rejected: Failed and Degraded', async () => {
    expect(
      await ctx.broker.put(`/queues/${enc(ctx.vhost)}/taken`, {
        durable: false,
        auto_delete: false,
        arguments: {},
      }),
    ).toBe(201);
    await ctx.create('rabbitqueues', 'taken', queueSpec());
    const o = await eventually(
      () => q('taken'),
      (x) => cond(x, 'Stalled')?.status === 'True',
      {
        what: 'taken Stalled',
      },
    );
    const v = verdicts('Rejected (inequivalent)', o);
    expect([v.kstatus.status, v.argo.status]).toEqual(['Failed', 'Degraded']);
    expect(v.argo.message).toContain("inequivalent arg 'durable'");
  });

  it('the younger of two resources declaring one queue is Conflict: Failed and Degraded', async () => {
    await ctx.create('rabbitqueues', 'owner', queueSpec({ name: 'shared' }));
    await eventually(() => q('owner'), isReadyNow, { what: 'owner Ready' });
    await new Promise((r) => setTimeout(r, 1100)); // creationTimestamp has one-second resolution
    await ctx.create('rabbitqueues', 'younger', queueSpec({ name: 'shared' }));
    const o = await eventually(
      () => q('younger'),
      (x) => cond(x, 'Stalled')?.status === 'True',
      {
        what: 'younger Stalled',
      },
    );
    expect(readyOf(o).reason).toBe('Conflict');
    const v = verdicts('Conflict', o);
    expect([v.kstatus.status, v.argo.status]).toEqual(['Failed', 'Degraded']);
    expect(v.argo.message).toMatch(/^Conflict: .*owner/);
  });

  it('a resource using a RabbitBroker that does not admit its namespace is NotAllowed: Failed and Degraded', async () => {
    await ctx.create('rabbitqueues', 'outsider', {
      brokerRef: { name: 'closed', namespace: other },
      vhost: ctx.vhost,
    });
    const o = await eventually(
      () => q('outsider'),
      (x) => cond(x, 'Stalled')?.status === 'True',
      {
        what: 'outsider Stalled',
      },
    );
    expect(readyOf(o).reason).toBe('NotAllowed');
    expect(o.status.observedGeneration).toBe(1);
    const v = verdicts('NotAllowed', o);
    expect([v.kstatus.status, v.argo.status]).toEqual(['Failed', 'Degraded']);
    expect(v.argo.message).toContain('NotAllowed');
  });

  it('the same states in /metrics: warren_resources by kind, ready and reason, and warren_broker_up', async () => {
    const line = (labels: string) => new RegExp(`^warren_resources\\{${labels}\\} (\\d+)$`, 'm');
    const text = await eventually(
      () => op!.metrics.registry.metrics(),
      (t) =>
        [
          'kind="RabbitQueue",ready="False",reason="Rejected"',
          'kind="RabbitQueue",ready="False",reason="Conflict"',
          'kind="RabbitQueue",ready="False",reason="NotAllowed"',
          'kind="RabbitPermission",ready="False",reason="WaitingForDependency"',
        ].every((l) => line(l).test(t)),
      { what: 'warren_resources with every state' },
    );
    expect(Number(line('kind="RabbitQueue",ready="False",reason="Rejected"').exec(text)![1])).toBe(2);
    expect(Number(line('kind="RabbitQueue",ready="True",reason="Reconciled"').exec(text)![1])).toBe(2);
    expect(text).toMatch(new RegExp(`^warren_broker_up\\{broker="${ctx.namespace}/local"\\} 1$`, 'm'));
    expect(text).toMatch(/^# TYPE warren_broker_requests_total counter$/m);
    expect(text).not.toMatch(/^warren_resources\{[^}]*name=/m);
  });

  it('a changed spec not yet handled is InProgress and Progressing, then Current and Healthy once applied', async () => {
    await ctx.create('rabbitqueues', 'edited', queueSpec());
    const before = await eventually(() => q('edited'), isReadyNow, { what: 'edited Ready' });
    // With no operator running, nothing handles the new generation.
    await op!.stop();
    op = undefined;
    const after = await ctx.patchSpec('rabbitqueues', 'edited', { deletionPolicy: 'Retain' });
    expect(after.metadata.generation).toBe(before.metadata.generation + 1);
    expect(after.status.observedGeneration).toBe(before.metadata.generation);
    expect(readyOf(after).status).toBe('True'); // still says Ready, for the generation before
    const v = verdicts('generation not observed', after);
    expect(v.kstatus.status).toBe('InProgress');
    expect(v.kstatus.message).toContain('latest observed generation');
    expect(v.argo.status).toBe('Progressing');
    expect(v.argo.message).toContain(`generation ${after.metadata.generation}`);

    op = await startOperator(ctx, { namespaces: [ctx.namespace, other] });
    const done = await eventually(() => q('edited'), isReadyNow, {
      what: 'edited Ready again',
      timeoutMs: 60_000,
    });
    const v2 = verdicts('Ready (after the edit)', done);
    expect([v2.kstatus.status, v2.argo.status]).toEqual(['Current', 'Healthy']);
  }, 120_000);

  it('a paused resource is Suspended for Argo CD, with the Paused reason and message', async () => {
    await ctx.create('rabbitqueues', 'held', queueSpec(), { annotations: { 'warren.dev/paused': 'true' } });
    const o = await eventually(
      () => q('held'),
      (x) => cond(x, 'Paused')?.status === 'True',
      { what: 'held Paused', timeoutMs: 30_000 },
    );
    const v = verdicts('paused', o);
    expect(v.argo.status).toBe('Suspended');
    expect(v.argo.message).toContain(cond(o, 'Paused').reason);
  });
});
