import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/common.ts';
import { WARREN_USERNAME } from '../../src/api/deploy.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { kubectl as run, shipped, type Doc } from '../support/shipped-rbac.ts';
import { eventually } from '../support/wait.ts';

// warren's shipped RBAC on a real kube-apiserver, acting with ServiceAccount tokens (never the admin):
// - deploy/secrets-policy.yaml (a ValidatingAdmissionPolicy) over the Secrets rule of the shipped
//   ClusterRole `warren`: warren's ServiceAccount may create and patch only Opaque Secrets labelled
//   app.kubernetes.io/managed-by=warren, so it cannot mint a ServiceAccount token;
// - deploy/rbac-tenants.yaml: a tenant bound to warren-edit (or to the built-in edit, by aggregation)
//   may write topology kinds but not RabbitBrokers, nor any status.
// The control plane is shared with other test files: the policy matches this file's own
// ServiceAccount (its username is the only change to the shipped text), and the cluster-scoped
// objects carry this file's namespace in their names.
let ctx: TestContext;
let admin: { rbac: k8s.RbacAuthorizationV1Api };
const LABEL = { 'app.kubernetes.io/managed-by': 'warren' };
const suffix = () => ctx.namespace;
const policyName = () => `warren-secrets-${suffix()}`;
const tenantRole = (name: string) => `${name}-${suffix()}`;

const kubectl = (args: string[], stdin?: string) => run(ctx, args, stdin);
const apply = (docs: Doc[]) =>
  kubectl(['apply', '--server-side', '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));

/** A ServiceAccount in the test namespace, and API clients that authenticate with its token. */
async function serviceAccount(name: string) {
  await ctx.core.createNamespacedServiceAccount({ namespace: ctx.namespace, body: { metadata: { name } } });
  const res = await ctx.core.createNamespacedServiceAccountToken({
    name,
    namespace: ctx.namespace,
    body: { spec: { expirationSeconds: 3600 } },
  });
  const cluster = ctx.kc.getCurrentCluster()!;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name, token: res.status!.token }],
    contexts: [{ name, cluster: cluster.name, user: name }],
    currentContext: name,
  });
  return { core: kc.makeApiClient(k8s.CoreV1Api), custom: kc.makeApiClient(k8s.CustomObjectsApi) };
}

const roleBinding = (name: string, roleKind: 'Role' | 'ClusterRole', role: string, sa: string): Doc => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name, namespace: ctx.namespace },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name: role },
  subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ctx.namespace }],
});

/** What a request came to: 'ok', 'policy' (refused by this file's admission policy), or the HTTP code. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (!(err instanceof k8s.ApiException)) throw err;
    const body = String(err.body);
    if (body.includes(`ValidatingAdmissionPolicy '${policyName()}'`)) return 'policy';
    return `${err.code}${err.code === 403 ? ' (RBAC)' : ''}: ${body.slice(0, 300)}`;
  }
}
const isRbacRefusal = (o: string) => o.startsWith('403 (RBAC)');

const secret = (name: string, extra: Doc = {}): k8s.V1Secret => ({
  metadata: { name, ...(extra.metadata ?? {}) },
  type: extra.type ?? 'Opaque',
  stringData: { username: 'u', password: 'p' },
});
const SA_TOKEN = (name: string) =>
  secret(name, {
    type: 'kubernetes.io/service-account-token',
    metadata: { annotations: { 'kubernetes.io/service-account.name': 'default' } },
  });

const usernamePatch = [
  { op: 'add', path: '/data/username', value: Buffer.from('renamed').toString('base64') },
];

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  admin = { rbac: ctx.kc.makeApiClient(k8s.RbacAuthorizationV1Api) };
});

afterAll(async () => {
  if (ctx) {
    await kubectl([
      'delete',
      '--ignore-not-found',
      `validatingadmissionpolicybinding/${policyName()}`,
      `validatingadmissionpolicy/${policyName()}`,
      `clusterrole/${tenantRole('warren-view')}`,
      `clusterrole/${tenantRole('warren-edit')}`,
    ]).catch(() => undefined);
  }
  await ctx?.cleanup();
});

describe('the control plane', () => {
  it('serves ValidatingAdmissionPolicy at admissionregistration.k8s.io/v1 (GA)', async () => {
    const resources = await kubectl([
      'api-resources',
      '--api-group=admissionregistration.k8s.io',
      '-o',
      'name',
    ]);
    expect(resources.split('\n')).toEqual(
      expect.arrayContaining([
        'validatingadmissionpolicies.admissionregistration.k8s.io',
        'validatingadmissionpolicybindings.admissionregistration.k8s.io',
      ]),
    );
    const versions = await kubectl(['api-versions']);
    expect(versions.split('\n')).toContain('admissionregistration.k8s.io/v1');
  });
});

describe("warren's Secret writes: the shipped RBAC and the shipped admission policy", () => {
  let warren: Awaited<ReturnType<typeof serviceAccount>>;

  beforeAll(async () => {
    warren = await serviceAccount('warren');
    // The Secrets rule of the shipped ClusterRole `warren`, as a Role here bound to the test's
    // ServiceAccount (the same verbs; limited to this namespace so that nothing else is exposed).
    const clusterRole = shipped('rbac.yaml').find(
      (d) => d.kind === 'ClusterRole' && d.metadata.name === 'warren',
    )!;
    const rules = (clusterRole.rules as Doc[]).filter((r) => r.resources.includes('secrets'));
    expect(rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
    ]);
    await apply([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'warren-secrets', namespace: ctx.namespace },
        rules,
      },
      roleBinding('warren-secrets', 'Role', 'warren-secrets', 'warren'),
    ]);
    // An existing Secret warren did not make (an application's, say), written by the admin.
    await ctx.core.createNamespacedSecret({ namespace: ctx.namespace, body: secret('foreign') });
    // RBAC is in effect when the ServiceAccount may read Secrets here.
    await eventually(
      () => outcome(warren.core.listNamespacedSecret({ namespace: ctx.namespace })),
      (o) => o === 'ok',
      { what: 'the Role in effect' },
    );
  });

  it('by RBAC alone, warren may create a ServiceAccount token Secret (why the policy is needed)', async () => {
    // Server-side dry run: admission and authorization run, nothing is stored.
    const o = await outcome(
      warren.core.createNamespacedSecret({
        namespace: ctx.namespace,
        body: SA_TOKEN('probe'),
        dryRun: 'All',
      }),
    );
    expect(o).toBe('ok');
  });

  it('with the policy: no token Secret, no unlabelled Secret, no patch of a Secret it did not make', async () => {
    const docs = shipped('secrets-policy.yaml');
    expect(docs.map((d) => d.kind)).toEqual([
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
    ]);
    const [policy, binding] = docs as [Doc, Doc];
    // The only change to the shipped policy: the ServiceAccount it matches is this file's one.
    const condition = policy.spec.matchConditions[0];
    expect(condition.expression).toContain(`"${WARREN_USERNAME}"`);
    condition.expression = condition.expression.replace(
      `"${WARREN_USERNAME}"`,
      `"system:serviceaccount:${ctx.namespace}:warren"`,
    );
    policy.metadata.name = policyName();
    binding.metadata.name = policyName();
    binding.spec.policyName = policyName();
    await apply([policy, binding]);

    // The API server picks the policy up asynchronously: retry a dry-run create of a token Secret
    // until the policy refuses it (bounded).
    await eventually(
      () =>
        outcome(
          warren.core.createNamespacedSecret({
            namespace: ctx.namespace,
            body: SA_TOKEN('probe'),
            dryRun: 'All',
          }),
        ),
      (o) => o === 'policy',
      { what: 'the policy refusing a token Secret', timeoutMs: 30_000, intervalMs: 200 },
    );

    const create = (body: k8s.V1Secret) =>
      outcome(warren.core.createNamespacedSecret({ namespace: ctx.namespace, body }));
    const patch = (name: string, body: unknown) =>
      outcome(
        warren.core.patchNamespacedSecret(
          { name, namespace: ctx.namespace, body },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
        ),
      );

    // A ServiceAccount token Secret is refused, labelled or not.
    expect(await create(SA_TOKEN('token'))).toBe('policy');
    const labelledToken = SA_TOKEN('token-labelled');
    labelledToken.metadata!.labels = LABEL;
    expect(await create(labelledToken)).toBe('policy');
    // An Opaque Secret without warren's label is refused.
    expect(await create(secret('unlabelled'))).toBe('policy');
    expect(
      await create(
        secret('other-label', { metadata: { labels: { 'app.kubernetes.io/managed-by': 'helm' } } }),
      ),
    ).toBe('policy');
    // What warren makes (src/kinds/user.ts: Opaque, labelled) is created.
    expect(await create(secret('jack-user-credentials', { metadata: { labels: LABEL } }))).toBe('ok');

    // A Secret warren did not make cannot be patched, nor taken over by adding the label.
    expect(await patch('foreign', usernamePatch)).toBe('policy');
    expect(
      await patch('foreign', [{ op: 'add', path: '/metadata/labels', value: LABEL }, ...usernamePatch]),
    ).toBe('policy');
    // Its own Secret is patched as warren patches it (the username, by JSON patch)...
    expect(await patch('jack-user-credentials', usernamePatch)).toBe('ok');
    // ...but not stripped of its label.
    expect(await patch('jack-user-credentials', [{ op: 'remove', path: '/metadata/labels' }])).toBe('policy');
    // Delete is not granted at all (RBAC), so the policy need not match it.
    expect(
      isRbacRefusal(
        await outcome(
          warren.core.deleteNamespacedSecret({ name: 'jack-user-credentials', namespace: ctx.namespace }),
        ),
      ),
    ).toBe(true);

    const stored = await ctx.core.readNamespacedSecret({
      name: 'jack-user-credentials',
      namespace: ctx.namespace,
    });
    expect(Buffer.from(stored.data!.username!, 'base64').toString()).toBe('renamed');
    const foreign = await ctx.core.readNamespacedSecret({ name: 'foreign', namespace: ctx.namespace });
    expect(foreign.metadata!.labels).toBeUndefined();
    expect(Buffer.from(foreign.data!.username!, 'base64').toString()).toBe('u');
    const names = (await ctx.core.listNamespacedSecret({ namespace: ctx.namespace })).items.map(
      (s) => s.metadata!.name,
    );
    expect(names.sort()).toEqual(['foreign', 'jack-user-credentials']);

    // Other users are not matched: the admin still creates an unlabelled Secret.
    expect(
      await outcome(
        ctx.core.createNamespacedSecret({
          namespace: ctx.namespace,
          body: secret('admin-made'),
          dryRun: 'All',
        }),
      ),
    ).toBe('ok');
  });
});

describe("tenants' roles: warren-edit and warren-view", () => {
  const queue = (name: string) => ({
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'RabbitQueue',
    metadata: { name },
    spec: { brokerRef: { name: 'local' }, vhost: ctx.vhost },
  });
  const broker = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'RabbitBroker',
    metadata: { name: 'mine' },
    spec: { endpoint: 'http://169.254.169.254/', credentialsSecretRef: { name: 'any' } },
  };
  const create = (api: k8s.CustomObjectsApi, plural: string, body: Doc, dryRun?: string) =>
    outcome(
      api.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ctx.namespace,
        plural,
        body,
        dryRun,
      }),
    );
  const patchStatus = (api: k8s.CustomObjectsApi, name: string) =>
    outcome(
      api.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace: ctx.namespace,
          plural: 'rabbitqueues',
          name,
          body: {
            status: {
              conditions: [
                {
                  type: 'Ready',
                  status: 'True',
                  reason: 'Reconciled',
                  message: 'forged',
                  lastTransitionTime: new Date().toISOString(),
                },
              ],
            },
          },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    );

  beforeAll(async () => {
    // The shipped roles, renamed for this file; their aggregation labels are kept.
    const roles = shipped('rbac-tenants.yaml');
    expect(roles.map((d) => d.metadata.name)).toEqual(['warren-view', 'warren-edit']);
    for (const r of roles) r.metadata.name = tenantRole(r.metadata.name);
    await apply(roles);
    // Both are valid requests: the admin may dry-run them (so a refusal below is RBAC, not the schema).
    expect(await create(ctx.custom, 'rabbitbrokers', broker, 'All')).toBe('ok');
    expect(await create(ctx.custom, 'rabbitqueues', queue('probe'), 'All')).toBe('ok');
  });

  it('a tenant bound to warren-edit (and warren-view) may write a RabbitQueue, not a RabbitBroker, not a status', async () => {
    const tenant = await serviceAccount('tenant');
    await apply([
      roleBinding('tenant-edit', 'ClusterRole', tenantRole('warren-edit'), 'tenant'),
      roleBinding('tenant-view', 'ClusterRole', tenantRole('warren-view'), 'tenant'),
    ]);
    await eventually(
      () => create(tenant.custom, 'rabbitqueues', queue('q1')),
      (o) => o === 'ok',
      { what: 'the tenant creating a RabbitQueue' },
    );
    expect(isRbacRefusal(await create(tenant.custom, 'rabbitbrokers', broker))).toBe(true);
    expect(isRbacRefusal(await patchStatus(tenant.custom, 'q1'))).toBe(true);
    // It may read brokers (warren-view), change and delete its queue.
    expect(
      await outcome(
        tenant.custom.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ctx.namespace,
          plural: 'rabbitbrokers',
        }),
      ),
    ).toBe('ok');
    expect(
      await outcome(
        tenant.custom.patchNamespacedCustomObject(
          {
            group: GROUP,
            version: VERSION,
            namespace: ctx.namespace,
            plural: 'rabbitqueues',
            name: 'q1',
            body: { metadata: { labels: { team: 'a' } } },
          },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        ),
      ),
    ).toBe('ok');
    expect(
      await outcome(
        tenant.custom.deleteNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ctx.namespace,
          plural: 'rabbitqueues',
          name: 'q1',
        }),
      ),
    ).toBe('ok');
  });

  it('the built-in edit and view roles carry them by aggregation', async () => {
    const editor = await serviceAccount('editor');
    const viewer = await serviceAccount('viewer');
    await apply([
      roleBinding('editor-edit', 'ClusterRole', 'edit', 'editor'),
      roleBinding('viewer-view', 'ClusterRole', 'view', 'viewer'),
    ]);
    // kube-controller-manager aggregates asynchronously.
    await eventually(
      () => create(editor.custom, 'rabbitqueues', queue('q2')),
      (o) => o === 'ok',
      { what: 'edit (aggregated) creating a RabbitQueue', timeoutMs: 30_000 },
    );
    expect(isRbacRefusal(await create(editor.custom, 'rabbitbrokers', broker))).toBe(true);
    expect(isRbacRefusal(await patchStatus(editor.custom, 'q2'))).toBe(true);
    await eventually(
      () =>
        outcome(
          viewer.custom.getNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace: ctx.namespace,
            plural: 'rabbitqueues',
            name: 'q2',
          }),
        ),
      (o) => o === 'ok',
      { what: 'view (aggregated) reading a RabbitQueue', timeoutMs: 30_000 },
    );
    expect(isRbacRefusal(await create(viewer.custom, 'rabbitqueues', queue('q3')))).toBe(true);
    expect(isRbacRefusal(await patchStatus(viewer.custom, 'q2'))).toBe(true);
    // What `edit` ended up with on RabbitBrokers: warren-view's reading, nothing more.
    const edit = await admin.rbac.readClusterRole({ name: 'edit' });
    const onBrokers = (edit.rules ?? [])
      .filter((r) => r.apiGroups?.includes(GROUP) && r.resources?.includes('rabbitbrokers'))
      .flatMap((r) => r.verbs);
    expect(onBrokers.sort()).toEqual(['get', 'list', 'watch']);
  });
});
