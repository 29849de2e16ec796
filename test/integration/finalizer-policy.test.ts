import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { GROUP, VERSION } from '../../src/api/common.ts';
import { ROOT } from '../../src/api/deploy.ts';
import type { TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow } from '../support/wait.ts';

// deploy/optional/finalizer-policy.yaml: the API server gives a new resource warren's finalizer, so
// warren writes only its status. The shipped policy is applied as it is; its binding is limited to
// this file's namespace (the control plane is shared with other test files running meanwhile).
let ctx: TestContext;
const policyName = () => `warren-finalizer-${ctx.namespace}`;
useOperator(import.meta.url, (c) => (ctx = c), {
  cleanup: async (c) => {
    const name = `warren-finalizer-${c.namespace}`;
    await kubectl(c, 'delete', '--ignore-not-found', 'mutatingadmissionpolicybinding', name);
    await kubectl(c, 'delete', '--ignore-not-found', 'mutatingadmissionpolicy', name);
  },
});

const FINALIZER = 'rabbitqueues.warren.dev/finalizer';

function kubectl(c: TestContext, ...args: string[]) {
  return promisify(execFile)(c.env.kubectl, ['--kubeconfig', c.env.kubeconfigPath, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

function applyPolicy(): Promise<unknown> {
  const docs = parseAllDocuments(
    readFileSync(join(ROOT, 'deploy/optional/finalizer-policy.yaml'), 'utf8'),
  ).map((d) => d.toJS() as Record<string, any>);
  for (const d of docs) d.metadata.name = policyName();
  const binding = docs.find((d) => d.kind === 'MutatingAdmissionPolicyBinding')!;
  binding.spec.policyName = policyName();
  binding.spec.matchResources = {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ctx.namespace } },
  };
  const child = execFile(ctx.env.kubectl, ['--kubeconfig', ctx.env.kubeconfigPath, 'apply', '-f', '-']);
  child.stdin!.end(docs.map((d) => stringify(d)).join('---\n'));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) =>
      code === 0 ? resolve(code) : reject(new Error(`kubectl apply: exit ${code}`)),
    ),
  );
}

/** Whether warren itself wrote the object's finalizer (its field manager owns metadata.finalizers). */
const warrenWroteFinalizer = (obj: any): boolean =>
  (obj.metadata.managedFields ?? []).some(
    (m: any) => m.manager === 'warren' && !m.subresource && m.fieldsV1?.['f:metadata']?.['f:finalizers'],
  );

/** A server-side dry-run create: admission runs, nothing is stored. */
const dryCreate = (meta: Record<string, unknown> = {}) =>
  ctx.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ctx.namespace,
    plural: 'rabbitqueues',
    dryRun: 'All',
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'RabbitQueue',
      metadata: { name: 'probe', ...meta },
      spec: { brokerRef: { name: 'local' }, vhost: ctx.vhost },
    },
  });

const queue = (name: string) =>
  ctx.create('rabbitqueues', name, { brokerRef: { name: 'local' }, vhost: ctx.vhost });
const ready = (name: string) =>
  eventually(() => ctx.get('rabbitqueues', name), isReadyNow, { what: `${name} Ready`, timeoutMs: 30_000 });

describe('the optional finalizer policy', () => {
  it('gives new resources the finalizer at creation: warren writes only their status, and deletes as before', async () => {
    // Without the policy warren writes the finalizer itself (what the check below would see).
    await queue('before');
    const before = await ready('before');
    expect(before.metadata.finalizers).toEqual([FINALIZER]);
    expect(warrenWroteFinalizer(before)).toBe(true);

    await applyPolicy();
    // The API server picks the policy up asynchronously: wait until a server-side dry-run create
    // comes back with the finalizer.
    await eventually(
      () => dryCreate(),
      (o: any) => (o.metadata.finalizers ?? []).includes(FINALIZER),
      { what: 'the policy in effect', timeoutMs: 30_000, intervalMs: 250 },
    );

    const names = Array.from({ length: 10 }, (_, i) => `q-${i}`);
    for (const n of names) {
      const created = await queue(n);
      expect(created.metadata.finalizers, n).toEqual([FINALIZER]);
    }
    for (const n of names) {
      const r = await ready(n);
      expect(r.metadata.finalizers, n).toEqual([FINALIZER]);
      expect(warrenWroteFinalizer(r), n).toBe(false);
      expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/${n}`)).status, n).toBe(200);
    }
    // A finalizer another controller set first is kept, and warren's is added after it (dry run:
    // nothing would remove the other one).
    const other: any = await dryCreate({ finalizers: ['example.com/keep'] });
    expect(other.metadata.finalizers).toEqual(['example.com/keep', FINALIZER]);

    // The finalizer the API server added acts as warren's own: deleting the resource deletes the queue.
    await ctx.remove('rabbitqueues', 'q-0');
    await ctx.waitGone('rabbitqueues', 'q-0');
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/q-0`)).status).toBe(404);
  });
});
