import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { WARREN_USERNAME } from '../../src/api/deploy.ts';
import type { TestContext } from './context.ts';
import { REPO } from './environment.ts';

// The operator as it runs in a cluster: under the shipped ClusterRoles (deploy/rbac.yaml's `warren`,
// deploy/rbac-kinds.yaml's `warren-kinds`) and the shipped Secret admission policy
// (deploy/secrets-policy.yaml), with a ServiceAccount token instead of the admin's credentials.
// The control plane is shared: the cluster-scoped objects carry the test namespace in their names,
// and the policy matches this ServiceAccount (the only change to the shipped texts).
export type Doc = Record<string, any>;

/** The documents of a file in deploy/. */
export const shipped = (file: string): Doc[] =>
  parseAllDocuments(readFileSync(join(REPO, 'deploy', file), 'utf8'))
    .map((d) => d.toJS() as Doc)
    .filter(Boolean);

/** kubectl as the test's admin, with `stdin` as its input. */
export function kubectl(ctx: TestContext, args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      ctx.env.kubectl,
      ['--kubeconfig', ctx.env.kubeconfigPath, ...args],
      { encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr}`)) : resolve(stdout),
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

export interface ShippedRbac {
  /** A kubeconfig authenticating as the ServiceAccount. */
  kubeconfigPath: string;
  /** Removes the cluster-scoped objects. */
  cleanup(): Promise<void>;
}

export async function shippedRbac(ctx: TestContext): Promise<ShippedRbac> {
  const sa = 'warren-operator';
  const suffix = `-${ctx.namespace}`;
  const username = `system:serviceaccount:${ctx.namespace}:${sa}`;
  await ctx.core.createNamespacedServiceAccount({
    namespace: ctx.namespace,
    body: { metadata: { name: sa } },
  });
  const docs: Doc[] = [];
  const roles = [...shipped('rbac.yaml'), ...shipped('rbac-kinds.yaml')];
  for (const d of roles) {
    if (d.kind === 'ClusterRole')
      docs.push({ ...d, metadata: { ...d.metadata, name: d.metadata.name + suffix } });
    if (d.kind === 'ClusterRoleBinding')
      docs.push({
        ...d,
        metadata: { ...d.metadata, name: d.metadata.name + suffix },
        roleRef: { ...d.roleRef, name: d.roleRef.name + suffix },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ctx.namespace }],
      });
  }
  for (const d of shipped('secrets-policy.yaml')) {
    const text = JSON.stringify(d).replaceAll(WARREN_USERNAME, username);
    const doc = JSON.parse(text) as Doc;
    doc.metadata.name += suffix;
    if (doc.kind === 'ValidatingAdmissionPolicyBinding') doc.spec.policyName += suffix;
    docs.push(doc);
  }
  await kubectl(ctx, ['apply', '--server-side', '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));
  const kubeconfigPath = await serviceAccountKubeconfig(
    ctx,
    sa,
    join(ctx.env.dir, `kubeconfig-shipped-${ctx.namespace}`),
  );
  return {
    kubeconfigPath,
    cleanup: async () => {
      const names = docs.map((d) => `${d.kind.toLowerCase()}/${d.metadata.name}`);
      await kubectl(ctx, ['delete', '--ignore-not-found', ...names]).catch(() => undefined);
    },
  };
}

/** Writes to `path` a kubeconfig authenticating as ServiceAccount `sa` of the test's namespace (a TokenRequest). */
export async function serviceAccountKubeconfig(ctx: TestContext, sa: string, path: string): Promise<string> {
  const res = await ctx.core.createNamespacedServiceAccountToken({
    name: sa,
    namespace: ctx.namespace,
    body: { spec: { expirationSeconds: 3600 } },
  });
  const cluster = ctx.kc.getCurrentCluster()!;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: sa, token: res.status!.token }],
    contexts: [{ name: sa, cluster: cluster.name, user: sa }],
    currentContext: sa,
  });
  writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
  return path;
}
