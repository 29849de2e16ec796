import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { testContext, type TestContext } from '../support/context.ts';
import { REPO } from '../support/environment.ts';
import { createBroker, startOperator } from '../support/operator.ts';
import { serviceAccountKubeconfig } from '../support/shipped-rbac.ts';
import { eventually, isReadyNow } from '../support/wait.ts';

// charts/warren/ with a real helm (helm.sh/helm/v4's cmd/helm, built by test/tools/helm.sh and cached
// by version): lint, template (the default values render deploy/install.yaml's objects, the
// namespaced values deploy/namespaced/install.yaml's, modulo Helm's labels), a server-side dry-run
// of what it renders, and one install and uninstall into this file's namespace. The operator's
// image cannot be pulled here, so the install runs no operator pod (replicas 0): the operator runs in
// this process instead, with the token of the release's ServiceAccount, and brings resources to Ready. The control plane
// is shared with other test files: the release gets cluster-scoped names of its own
// (fullnameOverride), and the CRDs it takes over stay (crds.keep), as they must for the others.
const CHART = join(REPO, 'charts', 'warren');
const HELM_SH = join(REPO, 'test', 'tools', 'helm.sh');

/** helm's path, built now if needed; undefined (with the reason printed) when it cannot be built. */
function findHelm(): string | undefined {
  try {
    const path = execFileSync('bash', [HELM_SH, '--path'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
    if (existsSync(path)) return path;
    const built = spawnSync('bash', [HELM_SH], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (built.status === 0 && existsSync(path)) return path;
    console.warn(
      `helm.test.ts skipped: helm could not be built (bash test/tools/helm.sh exited ${built.status})`,
    );
  } catch (err) {
    console.warn(`helm.test.ts skipped: helm could not be built: ${(err as Error).message}`);
  }
  return undefined;
}
const HELM = findHelm();

type Doc = Record<string, any>;
const HELM_LABELS = [
  'helm.sh/chart',
  'app.kubernetes.io/managed-by',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
];
const HELM_ANNOTATIONS = ['helm.sh/resource-policy'];

const docs = (text: string): Doc[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Doc)
    .filter(Boolean);
const id = (d: Doc) => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`;

/** An object without what Helm adds: its labels, the keep annotation (and maps left empty). */
function withoutHelm(d: Doc): Doc {
  const out = structuredClone(d);
  for (const [key, names] of [
    ['labels', HELM_LABELS],
    ['annotations', HELM_ANNOTATIONS],
  ] as const) {
    const m = out.metadata[key];
    if (!m) continue;
    for (const n of names) delete m[n];
    if (Object.keys(m).length === 0) delete out.metadata[key];
  }
  return out;
}
const byId = (list: Doc[]) => new Map(list.map((d) => [id(d), d]));

let ctx: TestContext;
let home: string;

function run(cmd: string, args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        encoding: 'utf8',
        timeout: 120_000,
        maxBuffer: 64 << 20,
        // helm's own cache, configuration and data stay in a directory of this test.
        env: {
          ...process.env,
          HELM_CACHE_HOME: join(home, 'cache'),
          HELM_CONFIG_HOME: join(home, 'config'),
          HELM_DATA_HOME: join(home, 'data'),
        },
      },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}
const helm = (...args: string[]) => run(HELM!, ['--kubeconfig', ctx.env.kubeconfigPath, ...args]);
const kubectl = (args: string[], stdin?: string) =>
  run(ctx.env.kubectl, ['--kubeconfig', ctx.env.kubeconfigPath, ...args], stdin);
const template = async (namespace: string, ...sets: string[]) =>
  docs(
    await helm('template', 'warren', CHART, '--namespace', namespace, ...sets.flatMap((s) => ['--set', s])),
  );
const deployDocs = (file: string) => docs(readFileSync(join(REPO, 'deploy', file), 'utf8'));

describe.skipIf(!HELM)('the Helm chart with a real helm', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'warren-helm-'));
    ctx = await testContext(import.meta.url);
  });
  afterAll(async () => {
    if (ctx)
      await helm('uninstall', release(), '--namespace', ctx.namespace, '--ignore-not-found').catch(
        () => undefined,
      );
    await ctx?.cleanup();
    rmSync(home, { recursive: true, force: true });
  });
  const release = () => `warren-${ctx.namespace}`.slice(0, 40).replace(/-$/, '');

  it('passes helm lint --strict, cluster-wide and namespaced', async () => {
    const out = await helm('lint', '--strict', CHART);
    expect(out).toContain('0 chart(s) failed');
    await helm(
      'lint',
      '--strict',
      CHART,
      '--set',
      'watchNamespaces={team-a,team-b}',
      '--set',
      'finalizerPolicy.enabled=true',
    );
    // values.schema.json refuses what the operator would refuse at start-up.
    await expect(helm('lint', '--strict', CHART, '--set', 'logLevel=loud')).rejects.toThrow(/logLevel/);
    await expect(helm('lint', '--strict', CHART, '--set', 'watchNamespaces={Team_A}')).rejects.toThrow(
      /watchNamespaces/,
    );
  });

  it("renders deploy/install.yaml's objects with the default values, modulo Helm's labels", async () => {
    const install = byId(deployDocs('install.yaml'));
    const rendered = await template('warren-system');
    for (const d of rendered) {
      expect(d.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'Helm' });
      if (d.kind === 'CustomResourceDefinition')
        expect(d.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    }
    const chart = byId(rendered.map(withoutHelm));
    // Helm installs into a namespace that exists (or --create-namespace): the Namespace is optional.
    const namespace = [...install.keys()].filter((k) => k.startsWith('Namespace/'));
    expect(namespace).toEqual(['Namespace//warren-system']);
    expect([...chart.keys()].sort()).toEqual(
      [...install.keys()].filter((k) => !namespace.includes(k)).sort(),
    );
    for (const [k, d] of chart) expect(d, k).toEqual(install.get(k));

    const withNamespace = byId((await template('warren-system', 'namespace.create=true')).map(withoutHelm));
    expect(withNamespace).toEqual(install);
  });

  it("renders deploy/namespaced/install.yaml's objects with watchNamespaces and no cluster-scoped extras", async () => {
    const namespaced = byId(deployDocs('namespaced/install.yaml'));
    const rendered = await template(
      'warren-system',
      'namespace.create=true',
      'watchNamespaces={warren-system}',
      'crds.create=false',
      'secretsPolicy.create=false',
      'tenantRoles.create=false',
    );
    expect(byId(rendered.map(withoutHelm))).toEqual(namespaced);
    // More namespaces: a Role and RoleBinding in each, WATCH_NAMESPACE lists them, no ClusterRole.
    const two = await template('ops', 'watchNamespaces={team-a,team-b}');
    expect(two.filter((d) => d.kind === 'ClusterRoleBinding').map((d) => d.metadata.name)).toEqual([]);
    expect(
      two.filter((d) => d.kind === 'Role' && d.metadata.name === 'warren').map((d) => d.metadata.namespace),
    ).toEqual(['team-a', 'team-b']);
    const env = two.find((d) => d.kind === 'Deployment')!.spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'WATCH_NAMESPACE', value: 'team-a,team-b' });
    const binding = two.find((d) => d.kind === 'RoleBinding' && d.metadata.namespace === 'team-b')!;
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'warren', namespace: 'ops' }]);
  });

  it('renders the values: image, replicas, log, resources, the optional objects as deploy/optional/ has them, the keep switch', async () => {
    const rendered = await template(
      'ops',
      'image.repository=registry.example/warren',
      'image.tag=dev',
      'image.pullPolicy=Always',
      'replicas=3',
      'logLevel=debug',
      'logFormat=text',
      'resources.limits.memory=1Gi',
      'serviceMonitor.enabled=true',
      'serviceMonitor.labels.release=prometheus',
      'finalizerPolicy.enabled=true',
      'crds.keep=false',
    );
    const dep = rendered.find((d) => d.kind === 'Deployment')!;
    expect(dep.spec.replicas).toBe(3);
    const c = dep.spec.template.spec.containers[0];
    expect([c.image, c.imagePullPolicy]).toEqual(['registry.example/warren:dev', 'Always']);
    expect(c.env).toContainEqual({ name: 'LOG_LEVEL', value: 'debug' });
    expect(c.env).toContainEqual({ name: 'LOG_FORMAT', value: 'text' });
    expect(c.resources.limits.memory).toBe('1Gi');
    for (const d of rendered.filter((d) => d.kind === 'CustomResourceDefinition'))
      expect(d.metadata.annotations).toBeUndefined();
    // The policy's ServiceAccount is the release's.
    const vap = rendered.find((d) => d.kind === 'ValidatingAdmissionPolicy')!;
    expect(JSON.stringify(vap)).toContain('system:serviceaccount:ops:warren');
    const monitor = withoutHelm(rendered.find((d) => d.kind === 'ServiceMonitor')!);
    const shippedMonitor = deployDocs('optional/servicemonitor.yaml')[0]!;
    shippedMonitor.metadata.namespace = 'ops';
    shippedMonitor.metadata.labels.release = 'prometheus';
    expect(monitor).toEqual(shippedMonitor);
    const policy = byId(
      rendered.filter((d) => d.kind.startsWith('MutatingAdmissionPolicy')).map(withoutHelm),
    );
    expect(policy).toEqual(byId(deployDocs('optional/finalizer-policy.yaml')));
    // Namespaced, the finalizer policy is bound to the watched namespaces only.
    const scoped = await template('ops', 'finalizerPolicy.enabled=true', 'watchNamespaces={team-a}');
    expect(scoped.find((d) => d.kind === 'MutatingAdmissionPolicyBinding')!.spec.matchResources).toEqual({
      namespaceSelector: {
        matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['team-a'] }],
      },
    });
  });

  it('renders manifests the API server accepts (server-side dry-run), cluster-wide and namespaced', async () => {
    const name = release();
    for (const sets of [
      ['namespace.create=true', 'finalizerPolicy.enabled=true'],
      ['namespace.create=true', `watchNamespaces={${ctx.namespace}}`, 'finalizerPolicy.enabled=true'],
    ]) {
      const text = await helm(
        'template',
        name,
        CHART,
        '--namespace',
        ctx.namespace,
        '--set',
        `fullnameOverride=${name}`,
        ...sets.flatMap((s) => ['--set', s]),
      );
      const out = await kubectl(
        ['apply', '--server-side', '--dry-run=server', '--field-manager=helm-test', '-f', '-'],
        text,
      );
      expect(out.trim().split('\n').length).toBe(docs(text).length);
      expect(out).toContain('serverside-applied (server dry run)');
    }
  });

  it("installs with helm install (no operator pod), the operator under the release's RBAC reconciles, helm uninstall removes everything but the kept CRDs", async () => {
    const name = release();
    await helm(
      'install',
      name,
      CHART,
      '--namespace',
      ctx.namespace,
      '--set',
      'replicas=0',
      '--set',
      `fullnameOverride=${name}`,
      // The CRDs exist already (the test environment applied them): the release takes them over.
      '--take-ownership',
      // No --wait: the test control plane runs no Deployment controller, so a Deployment never
      // reports a status (and no pod is wanted anyway).
    );
    const manifest = docs(await helm('get', 'manifest', name, '--namespace', ctx.namespace));
    const crds = manifest.filter((d) => d.kind === 'CustomResourceDefinition').map((d) => d.metadata.name);
    expect(crds.length).toBeGreaterThan(10);
    const others = manifest.filter((d) => d.kind !== 'CustomResourceDefinition');
    expect(others.map((d) => d.kind).sort()).toEqual(
      [
        'ClusterRole',
        'ClusterRole',
        'ClusterRole',
        'ClusterRole',
        'ClusterRoleBinding',
        'ClusterRoleBinding',
        'Deployment',
        'PodDisruptionBudget',
        'Role',
        'RoleBinding',
        'Service',
        'ServiceAccount',
        'ValidatingAdmissionPolicy',
        'ValidatingAdmissionPolicyBinding',
      ].sort(),
    );
    const exists = async (list: Doc[]) =>
      (
        await kubectl(
          ['get', '--ignore-not-found', '-o', 'name', '-f', '-'],
          list.map((d) => stringify(d)).join('---\n'),
        )
      )
        .trim()
        .split('\n')
        .filter(Boolean);
    expect(await exists(manifest)).toHaveLength(manifest.length);
    const dep = JSON.parse(await kubectl(['get', 'deployment', name, '-n', ctx.namespace, '-o', 'json']));
    expect(dep.spec.replicas).toBe(0);
    expect(dep.metadata.annotations['meta.helm.sh/release-name']).toBe(name);
    // The operator (in this process: no image here) under the release's ServiceAccount, ClusterRoles
    // and Secret policy brings a queue and a user with a generated Secret to Ready, and deletes them.
    const op = await startOperator(ctx, {
      kubeconfigPath: await serviceAccountKubeconfig(ctx, name, join(home, 'kubeconfig-sa')),
    });
    try {
      await createBroker(ctx);
      await ctx.create('rabbitqueues', 'hello', { brokerRef: { name: 'local' }, vhost: ctx.vhost });
      await ctx.create('rabbitusers', 'jack', {
        brokerRef: { name: 'local' },
        username: `jack-${ctx.namespace}`,
      });
      for (const plural of ['rabbitbrokers', 'rabbitqueues', 'rabbitusers']) {
        const what = plural === 'rabbitbrokers' ? 'local' : plural === 'rabbitqueues' ? 'hello' : 'jack';
        await eventually(() => ctx.get(plural, what), isReadyNow, {
          what: `${plural}/${what} Ready`,
          timeoutMs: 30_000,
        });
      }
      await ctx.core.readNamespacedSecret({ name: 'jack-user-credentials', namespace: ctx.namespace });
      await ctx.remove('rabbitqueues', 'hello');
      await ctx.remove('rabbitusers', 'jack');
      await ctx.waitGone('rabbitqueues', 'hello');
      await ctx.waitGone('rabbitusers', 'jack');
    } finally {
      await op.stop();
    }

    const crd = JSON.parse(await kubectl(['get', 'crd', 'rabbitqueues.warren.dev', '-o', 'json']));
    expect(crd.metadata.annotations).toMatchObject({
      'helm.sh/resource-policy': 'keep',
      'meta.helm.sh/release-name': name,
    });

    const out = await helm('uninstall', name, '--namespace', ctx.namespace, '--wait', '--timeout', '2m');
    expect(out).toMatch(/kept due to the resource policy/i);
    expect(await exists(others)).toEqual([]);
    // Every CRD is still there and serving (the other test files go on using them).
    const left = await exists(manifest.filter((d) => d.kind === 'CustomResourceDefinition'));
    expect(left.sort()).toEqual(crds.map((c) => `customresourcedefinition.apiextensions.k8s.io/${c}`).sort());
    await kubectl(['get', 'rabbitqueues', '-n', ctx.namespace]);
  }, 180_000);
});
