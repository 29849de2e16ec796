import { readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { GROUP } from '../../src/api/common.ts';
import {
  ADMIN_ONLY_PLURALS,
  deployFiles,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SECRET_RULES,
  WARREN_USERNAME,
} from '../../src/api/deploy.ts';
import { LEASE_NAME, parseConfig } from '../../src/config.ts';
import { ALL_KINDS, TOPOLOGY_KINDS } from '../../src/kinds/index.ts';
import { startHealthServer } from '../../src/runtime/health.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const DEPLOY = join(ROOT, 'deploy');
const CRDS = join(ROOT, 'crds');

type Doc = Record<string, any>;

function docsOf(text: string, where: string): Doc[] {
  return parseAllDocuments(text).map((d, i) => {
    expect(d.errors, `${where} document ${i}`).toEqual([]);
    const js = d.toJS();
    expect(js, `${where} document ${i} is empty`).toBeTruthy();
    return js as Doc;
  });
}

const crdFiles = readdirSync(CRDS)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .sort();
const crds = crdFiles.map((f) => parse(readFileSync(join(CRDS, f), 'utf8')) as Doc);
const plurals = crds.map((c) => c.spec.names.plural as string);

const deployDocs = readdirSync(DEPLOY)
  .filter((f) => f.endsWith('.yaml') && !['kustomization.yaml', 'install.yaml'].includes(f))
  .flatMap((f) => docsOf(readFileSync(join(DEPLOY, f), 'utf8'), f));
const find = (kind: string, name?: string) =>
  deployDocs.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
const one = (kind: string, name?: string) => {
  const found = find(kind, name);
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};

/** The verbs a set of rules grants on group/resource (optionally for one resourceName). */
function verbs(rules: Doc[], group: string, resource: string, resourceName?: string): Set<string> {
  const out = new Set<string>();
  for (const r of rules) {
    if (!r.apiGroups?.includes(group) && !r.apiGroups?.includes('*')) continue;
    if (!r.resources?.includes(resource) && !r.resources?.includes('*')) continue;
    if (r.resourceNames && !(resourceName && r.resourceNames.includes(resourceName))) continue;
    for (const v of r.verbs ?? []) out.add(v);
  }
  return out;
}

const sorted = (s: Set<string>) => [...s].sort();

const SUBJECT = { kind: 'ServiceAccount', name: 'warren', namespace: 'warren-system' };

describe('deploy/: RBAC', () => {
  // Everything the ClusterRoles bound to warren's ServiceAccount grant: warren-kinds (generated) and
  // warren (by hand: Secrets, Events, namespaces).
  const bound = find('ClusterRoleBinding').filter((b) =>
    b.subjects?.some((s: Doc) => JSON.stringify(s) === JSON.stringify(SUBJECT)),
  );
  const rules = bound.flatMap((b) => one('ClusterRole', b.roleRef.name).rules as Doc[]);

  it('there are CRDs to cover', () => {
    expect(plurals.length).toBeGreaterThanOrEqual(6);
    for (const c of crds) expect(c.spec.group).toBe(GROUP);
  });

  it('covers every CRD plural, its /status and its /finalizers', () => {
    for (const p of plurals) {
      expect(sorted(verbs(rules, GROUP, p)), p).toEqual(['get', 'list', 'patch', 'update', 'watch']);
      expect(sorted(verbs(rules, GROUP, `${p}/status`)), `${p}/status`).toEqual(['get', 'patch', 'update']);
      expect(sorted(verbs(rules, GROUP, `${p}/finalizers`)), `${p}/finalizers`).toEqual(['update']);
    }
  });

  it('is least-privilege: no wildcards, no delete, nothing on plurals that are not CRDs', () => {
    for (const r of rules) {
      expect(r.apiGroups).not.toContain('*');
      expect(r.resources).not.toContain('*');
      expect(r.verbs).not.toContain('*');
      expect(r.verbs).not.toContain('delete');
      expect(r.verbs).not.toContain('deletecollection');
      if (r.apiGroups.includes(GROUP)) {
        for (const res of r.resources) expect(plurals).toContain(res.split('/')[0]);
      }
    }
  });

  it('grants Secrets, events.k8s.io Events and namespaces/get as the operator needs', () => {
    expect(sorted(verbs(rules, '', 'secrets'))).toEqual(['create', 'get', 'list', 'patch', 'watch']);
    expect(sorted(verbs(rules, 'events.k8s.io', 'events'))).toEqual(['create', 'patch']);
    expect(sorted(verbs(rules, '', 'namespaces'))).toEqual(['get']);
  });

  it('binds the ClusterRoles and the lease Role to the warren ServiceAccount', () => {
    const sa = one('ServiceAccount', 'warren');
    expect(sa.metadata.namespace).toBe('warren-system');
    const subject = SUBJECT;
    expect(
      find('ClusterRole')
        .map((r) => r.metadata.name)
        .sort(),
    ).toEqual(['warren', 'warren-edit', 'warren-kinds', 'warren-view']);
    // The tenants' roles (rbac-tenants.yaml) are bound to nobody here.
    const roles = ['warren', 'warren-kinds'];
    const crbs = find('ClusterRoleBinding');
    expect(crbs.map((b) => b.roleRef.name).sort()).toEqual(roles);
    for (const crb of crbs) {
      expect(crb.roleRef.apiGroup).toBe('rbac.authorization.k8s.io');
      expect(crb.roleRef.kind).toBe('ClusterRole');
      expect(crb.subjects).toEqual([subject]);
    }
    const role = one('Role');
    const rb = one('RoleBinding');
    expect(rb.metadata.namespace).toBe('warren-system');
    expect(rb.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: role.metadata.name,
    });
    expect(rb.subjects).toEqual([subject]);
  });

  it("lets the operator create, get and update the Lease main.ts elects on, in warren's namespace", () => {
    const main = readFileSync(join(ROOT, 'src', 'main.ts'), 'utf8');
    expect(main.slice(main.indexOf('new LeaderElector'))).toMatch(/name: LEASE_NAME/);
    const lease = LEASE_NAME;
    const role = one('Role');
    expect(role.metadata.namespace).toBe('warren-system');
    const granted = verbs(role.rules, 'coordination.k8s.io', 'leases', lease);
    for (const v of ['create', 'get', 'update']) expect(granted, v).toContain(v);
  });
});

describe("deploy/: the tenants' aggregated roles", () => {
  const view = one('ClusterRole', 'warren-view');
  const edit = one('ClusterRole', 'warren-edit');
  const topology = TOPOLOGY_KINDS.map((k) => k.def.plural);
  const WRITE = [
    'create',
    'update',
    'patch',
    'delete',
    'deletecollection',
    'escalate',
    'bind',
    'impersonate',
  ];
  const aggregates = (d: Doc) =>
    Object.entries(d.metadata.labels)
      .filter(([k, v]) => k.startsWith('rbac.authorization.k8s.io/aggregate-to-') && v === 'true')
      .map(([k]) => k.split('aggregate-to-')[1])
      .sort();

  it('RabbitBroker is the only kind that is not topology', () => {
    expect(plurals.filter((p) => !topology.includes(p))).toEqual(ADMIN_ONLY_PLURALS);
  });

  it('warren-view reads every warren kind (brokers too) and writes nothing; aggregated into view, edit, admin', () => {
    for (const p of plurals) {
      expect(sorted(verbs(view.rules, GROUP, p)), p).toEqual(['get', 'list', 'watch']);
      expect(sorted(verbs(view.rules, GROUP, `${p}/status`)), `${p}/status`).toEqual(['get']);
    }
    for (const r of view.rules as Doc[]) {
      expect(r.apiGroups).toEqual([GROUP]);
      for (const v of r.verbs) expect(['get', 'list', 'watch'], v).toContain(v);
      for (const res of r.resources) expect(plurals).toContain(res.split('/')[0]);
    }
    expect(aggregates(view)).toEqual(['admin', 'edit', 'view']);
  });

  it('warren-edit writes every topology kind, never rabbitbrokers, never a status; aggregated into edit and admin', () => {
    for (const p of topology) {
      const granted = verbs(edit.rules, GROUP, p);
      for (const v of ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'])
        expect(granted, `${p} ${v}`).toContain(v);
      expect(sorted(verbs(edit.rules, GROUP, `${p}/status`)), `${p}/status`).toEqual([]);
    }
    expect(sorted(verbs(edit.rules, GROUP, 'rabbitbrokers'))).toEqual([]);
    expect(sorted(verbs(edit.rules, GROUP, 'rabbitbrokers/status'))).toEqual([]);
    for (const r of edit.rules as Doc[]) {
      expect(r.apiGroups).toEqual([GROUP]);
      expect(r.resourceNames).toBeUndefined();
      for (const res of r.resources) {
        expect(res, res).not.toContain('/');
        expect(res, res).not.toBe('*');
        expect(ADMIN_ONLY_PLURALS, res).not.toContain(res);
      }
      for (const v of r.verbs) expect(['escalate', 'bind', 'impersonate', '*'], v).not.toContain(v);
    }
    expect(aggregates(edit)).toEqual(['admin', 'edit']);
    // Neither role grants anything outside warren.dev (Secrets come from the built-in edit, if at all).
    for (const r of [...view.rules, ...edit.rules] as Doc[]) expect(r.apiGroups).toEqual([GROUP]);
    expect(WRITE.filter((v) => verbs(view.rules, GROUP, 'rabbitqueues').has(v))).toEqual([]);
  });

  it('a new kind follows: readable in warren-view, writable in warren-edit if it is topology', () => {
    const files = deployFiles(
      ['rabbitwidgets', 'rabbitgadgets', ...plurals],
      ['rabbitwidgets', ...plurals],
      new Map([
        ['crds/warren.dev_rabbitwidgets.yaml', 'kind: X\n'],
        ['crds/warren.dev_rabbitgadgets.yaml', 'kind: Y\n'],
      ]),
    );
    const docs = parseAllDocuments(files.get('deploy/rbac-tenants.yaml')!).map((d) => d.toJS() as Doc);
    const v = docs.find((d) => d.metadata.name === 'warren-view')!.rules;
    const e = docs.find((d) => d.metadata.name === 'warren-edit')!.rules;
    for (const p of ['rabbitwidgets', 'rabbitgadgets'])
      expect(sorted(verbs(v, GROUP, p)), p).toEqual(['get', 'list', 'watch']);
    expect(verbs(e, GROUP, 'rabbitwidgets')).toContain('create');
    expect(sorted(verbs(e, GROUP, 'rabbitgadgets'))).toEqual([]);
    // Even listed among the topology plurals, an admin-only kind stays out of warren-edit.
    expect(sorted(verbs(e, GROUP, 'rabbitbrokers'))).toEqual([]);
    expect(files.get('deploy/install.yaml')).toContain('name: warren-edit\n');
  });
});

describe("deploy/: the admission policy on warren's Secret writes", () => {
  const policy = one('ValidatingAdmissionPolicy', 'warren-secrets');
  const binding = one('ValidatingAdmissionPolicyBinding', 'warren-secrets');

  it('is GA admissionregistration.k8s.io/v1, fails closed and denies', () => {
    expect(policy.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(binding.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(policy.spec.failurePolicy).toBe('Fail');
    expect(binding.spec).toEqual({ policyName: 'warren-secrets', validationActions: ['Deny'] });
    expect(policy.spec.paramKind).toBeUndefined();
  });

  it("matches Secrets CREATE and UPDATE (a patch is an UPDATE), and only warren's ServiceAccount", () => {
    expect(policy.spec.matchConstraints.resourceRules).toEqual([
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['secrets'] },
    ]);
    expect(WARREN_USERNAME).toBe(`system:serviceaccount:${SUBJECT.namespace}:${SUBJECT.name}`);
    expect(policy.spec.matchConditions).toEqual([
      {
        name: 'warren-service-account',
        expression: 'request.userInfo.username == "system:serviceaccount:warren-system:warren"',
      },
    ]);
    expect(SECRET_RULES.match).toBe(policy.spec.matchConditions[0].expression);
  });

  it('admits only Opaque Secrets with the label, and on UPDATE only those that had it', () => {
    const label =
      'has(o.metadata.labels) && "app.kubernetes.io/managed-by" in o.metadata.labels && o.metadata.labels["app.kubernetes.io/managed-by"] == "warren"';
    expect(policy.spec.validations.map((v: Doc) => v.expression)).toEqual([
      'object.type == "Opaque"',
      label.replaceAll('o.', 'object.'),
      `request.operation != "UPDATE" || (${label.replaceAll('o.', 'oldObject.')})`,
    ]);
    expect(policy.spec.validations.map((v: Doc) => v.expression)).toEqual([
      SECRET_RULES.opaque,
      SECRET_RULES.labelled,
      SECRET_RULES.wasLabelled,
    ]);
    for (const v of policy.spec.validations) {
      expect(v.reason).toBe('Forbidden');
      expect(v.message).toMatch(/^warren may /);
    }
  });

  it.each(['user.ts', 'connection-secret.ts'])(
    'the Secrets warren makes pass it: src/kinds/%s writes Opaque Secrets with the label',
    (file) => {
      const page = readFileSync(join(ROOT, 'src', 'kinds', file), 'utf8');
      expect(page).toContain(`labels: { '${MANAGED_BY_LABEL}': '${MANAGED_BY_VALUE}' }`);
      expect(page).toMatch(/type: 'Opaque'/);
    },
  );

  it('no other file writes Secrets', () => {
    // A new Secret write must write an Opaque Secret with the label too, or the policy refuses it:
    // add it to the list above once it does.
    const writes = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.startsWith('cli'))
      .filter((f) =>
        /\.(create|patch|update|replace|apply)\(\s*corePath\('secrets'/.test(
          readFileSync(join(ROOT, 'src', f), 'utf8'),
        ),
      );
    expect(writes.sort(), 'files that write Secrets').toEqual([
      join('kinds', 'connection-secret.ts'),
      join('kinds', 'user.ts'),
    ]);
  });

  it('ships in install.yaml; the namespaced installation points the cluster admin to the same file', () => {
    const install = readFileSync(join(DEPLOY, 'install.yaml'), 'utf8');
    expect(install).toContain(readFileSync(join(DEPLOY, 'secrets-policy.yaml'), 'utf8'));
    const nsInstall = readFileSync(join(DEPLOY, 'namespaced', 'install.yaml'), 'utf8');
    expect(nsInstall).toContain('kubectl apply --server-side -f deploy/secrets-policy.yaml');
    expect(nsInstall).not.toContain('kind: ValidatingAdmissionPolicy');
  });
});

describe('deploy/optional/networkpolicy.yaml', () => {
  const np = parse(readFileSync(join(DEPLOY, 'optional', 'networkpolicy.yaml'), 'utf8')) as Doc;
  const deployment = one('Deployment', 'warren');

  it("selects the operator's pods and restricts egress only", () => {
    expect(np.kind).toBe('NetworkPolicy');
    expect(np.metadata.namespace).toBe(deployment.metadata.namespace);
    expect(np.spec.podSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(np.spec.policyTypes).toEqual(['Egress']);
  });

  it('lets out DNS, the API server and the management ports, nothing else', () => {
    const ports = (np.spec.egress as Doc[]).map((e) => {
      expect(e.ports?.length, 'every rule names its ports').toBeGreaterThan(0);
      return (e.ports as Doc[]).map((p) => `${p.protocol}/${p.port}`).sort();
    });
    expect(ports).toEqual([
      ['TCP/53', 'UDP/53'],
      ['TCP/443', 'TCP/6443'],
      ['TCP/15671', 'TCP/15672'],
    ]);
    const dns = np.spec.egress[0].to[0];
    expect(dns.namespaceSelector.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'kube-system' });
    expect(dns.podSelector.matchLabels).toEqual({ 'k8s-app': 'kube-dns' });
  });
});

describe('deploy/: Deployment', () => {
  const deployment = one('Deployment', 'warren');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const env = Object.fromEntries((container.env as Doc[]).map((e) => [e.name, e]));

  it('runs two replicas in warren-system under the warren ServiceAccount', () => {
    expect(deployment.metadata.namespace).toBe('warren-system');
    expect(one('Namespace').metadata.name).toBe('warren-system');
    expect(deployment.spec.replicas).toBe(2);
    expect(pod.serviceAccountName).toBe('warren');
    expect(Object.keys(deployment.spec.selector.matchLabels).length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) {
      expect(deployment.spec.template.metadata.labels[k]).toBe(v);
    }
  });

  it('probes and scrapes the paths the health server serves, on the port main.ts listens on', async () => {
    const port = parseConfig({}).healthPort;
    expect(env.HEALTH_PORT).toBeUndefined();
    const http = (container.ports as Doc[]).find((p) => p.name === 'http');
    expect(http?.containerPort).toBe(port);

    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const annotations = deployment.spec.template.metadata.annotations;
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(Number(annotations['prometheus.io/port'])).toBe(port);

    // The paths really answer 200 from the health server main.ts starts.
    const server = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      ready: () => true,
      registry: new Registry(),
    });
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (const path of [
        container.livenessProbe.httpGet.path,
        container.readinessProbe.httpGet.path,
        annotations['prometheus.io/path'],
      ]) {
        const res = await fetch(base + path);
        expect(res.status, path).toBe(200);
      }
      expect((await fetch(`${base}/nope`)).status).toBe(404);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('passes the pod identity and the leader-election namespace from the downward API', () => {
    expect(env.POD_NAME.valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    expect(env.POD_NAMESPACE.valueFrom.fieldRef.fieldPath).toBe('metadata.namespace');
    expect(env.LEADER_ELECTION_NAMESPACE.value).toBe('$(POD_NAMESPACE)');
    // Dependent variables only expand when defined earlier in the list.
    const names = (container.env as Doc[]).map((e) => e.name);
    expect(names.indexOf('POD_NAMESPACE')).toBeLessThan(names.indexOf('LEADER_ELECTION_NAMESPACE'));
    expect(env.LOG_LEVEL.value).toBe('info');
    expect(env.LEADER_ELECTION).toBeUndefined();
    expect(env.WATCH_NAMESPACE).toBeUndefined();
  });

  it('is locked down and sized', () => {
    const sc = container.securityContext;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(Number.isInteger(pod.securityContext.runAsUser) && pod.securityContext.runAsUser > 0).toBe(true);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities.drop).toEqual(['ALL']);
    expect(sc.capabilities.add).toBeUndefined();
    expect(sc.seccompProfile.type ?? pod.securityContext.seccompProfile.type).toBe('RuntimeDefault');
    expect(container.resources).toEqual({
      requests: { cpu: '50m', memory: '128Mi' },
      limits: { memory: '512Mi' },
    });
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    expect(container.command).toBeUndefined();
  });
});

describe('deploy/: disruption budget and metrics Service', () => {
  const deployment = one('Deployment', 'warren');
  const podLabels = deployment.spec.template.metadata.labels;
  const selects = (selector: Record<string, string>) =>
    Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => podLabels[k] === v);

  it('keeps one of the two replicas through voluntary disruptions', () => {
    const pdb = one('PodDisruptionBudget', 'warren');
    expect(pdb.metadata.namespace).toBe('warren-system');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
    expect(selects(pdb.spec.selector.matchLabels)).toBe(true);
  });

  it("serves the pods' metrics port, and the optional ServiceMonitor scrapes it", () => {
    const svc = one('Service', 'warren-metrics');
    expect(svc.metadata.namespace).toBe('warren-system');
    expect(selects(svc.spec.selector)).toBe(true);
    const port = svc.spec.ports.find((p: Doc) => p.name === 'metrics');
    expect(port.targetPort).toBe('http');
    const sm = parse(readFileSync(join(DEPLOY, 'optional', 'servicemonitor.yaml'), 'utf8'));
    expect(sm.kind).toBe('ServiceMonitor');
    expect(sm.metadata.namespace).toBe('warren-system');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    expect(sm.spec.endpoints[0].port).toBe('metrics');
    expect(sm.spec.endpoints[0].path).toBe(
      deployment.spec.template.metadata.annotations['prometheus.io/path'],
    );
  });
});

describe('deploy/: generated files, kustomization and install.yaml', () => {
  it('crds/kustomization.yaml, rbac-kinds.yaml and install.yaml are what npm run gen:crds writes', () => {
    // The CRD texts come from disk here (crds.test.ts checks those against the schemas).
    for (const [path, text] of deployFiles(
      ALL_KINDS.map((k) => k.plural),
      TOPOLOGY_KINDS.map((k) => k.def.plural),
    )) {
      expect(readFileSync(join(ROOT, path), 'utf8'), `${path} is stale: npm run gen:crds`).toBe(text);
    }
  });

  it('a kind added to ALL_KINDS gets its CRD listed and its RBAC rules without a hand edit', () => {
    const files = deployFiles(
      ['rabbitwidgets', ...plurals],
      ['rabbitwidgets', ...plurals],
      new Map([['crds/warren.dev_rabbitwidgets.yaml', 'kind: X\n']]),
    );
    expect(parse(files.get('crds/kustomization.yaml')!).resources).toContain('warren.dev_rabbitwidgets.yaml');
    const generated = parseAllDocuments(files.get('deploy/rbac-kinds.yaml')!).map((d) => d.toJS() as Doc);
    const roleRules = generated.find((d) => d.kind === 'ClusterRole')!.rules;
    expect(sorted(verbs(roleRules, GROUP, 'rabbitwidgets'))).toEqual([
      'get',
      'list',
      'patch',
      'update',
      'watch',
    ]);
    expect(sorted(verbs(roleRules, GROUP, 'rabbitwidgets/status'))).toEqual(['get', 'patch', 'update']);
    expect(sorted(verbs(roleRules, GROUP, 'rabbitwidgets/finalizers'))).toEqual(['update']);
    expect(files.get('deploy/install.yaml')).toContain('kind: X\n');
  });

  it('the namespaced installation has Roles only, covering every kind, and nothing cluster-scoped', () => {
    const files = deployFiles(
      ['rabbitwidgets', ...plurals],
      ['rabbitwidgets', ...plurals],
      new Map([['crds/warren.dev_rabbitwidgets.yaml', 'kind: X\n']]),
    );
    const perNs = parseAllDocuments(files.get('deploy/namespaced/rbac-namespace.yaml')!).map(
      (d) => d.toJS() as Doc,
    );
    expect(perNs.map((d) => d.kind)).toEqual(['Role', 'RoleBinding']);
    for (const d of perNs) expect(d.metadata.namespace).toBeUndefined();
    const r = perNs[0]!.rules;
    expect(sorted(verbs(r, GROUP, 'rabbitwidgets'))).toEqual(['get', 'list', 'patch', 'update', 'watch']);
    expect(sorted(verbs(r, GROUP, 'rabbitwidgets/finalizers'))).toEqual(['update']);
    expect(sorted(verbs(r, '', 'secrets'))).toEqual(['create', 'get', 'list', 'patch', 'watch']);
    expect(sorted(verbs(r, '', 'namespaces'))).toEqual([]);
    for (const rule of r) expect(rule.verbs).not.toContain('delete');
    const install = parseAllDocuments(readFileSync(join(DEPLOY, 'namespaced/install.yaml'), 'utf8')).map(
      (d) => d.toJS() as Doc,
    );
    const kinds = install.map((d) => d.kind);
    expect(kinds).not.toContain('ClusterRole');
    expect(kinds).not.toContain('ClusterRoleBinding');
    expect(kinds).not.toContain('CustomResourceDefinition');
    const dep = install.find((d) => d.kind === 'Deployment')!;
    expect(dep.spec.template.spec.containers[0].env).toContainEqual({
      name: 'WATCH_NAMESPACE',
      value: 'warren-system',
    });
    expect(install.find((d) => d.kind === 'Role' && d.metadata.name === 'warren')!.metadata.namespace).toBe(
      'warren-system',
    );
  });

  it('deploy/kustomization.yaml includes ../crds and every manifest in deploy/; ../crds lists every CRD file', () => {
    const k = parse(readFileSync(join(DEPLOY, 'kustomization.yaml'), 'utf8'));
    expect(k.kind).toBe('Kustomization');
    const resources: string[] = k.resources;
    expect(resources[0]).toBe('../crds');
    const manifests = readdirSync(DEPLOY).filter(
      (f) => f.endsWith('.yaml') && !['kustomization.yaml', 'install.yaml'].includes(f),
    );
    expect([...resources.slice(1)].sort()).toEqual(manifests.sort());
    expect(new Set(resources).size).toBe(resources.length);
    const c = parse(readFileSync(join(CRDS, 'kustomization.yaml'), 'utf8'));
    expect([...c.resources].sort()).toEqual(crdFiles);
  });

  it('install.yaml holds every CRD and every deploy/ object, CRDs and the namespace first', () => {
    const docs = docsOf(readFileSync(join(DEPLOY, 'install.yaml'), 'utf8'), 'install.yaml');
    const renderedCrds = docs.filter((d) => d.kind === 'CustomResourceDefinition');
    expect(renderedCrds.map((d) => d.spec.names.plural).sort()).toEqual([...plurals].sort());
    expect(renderedCrds).toEqual(expect.arrayContaining(crds));
    const ids = (ds: Doc[]) =>
      ds.map((d) => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`).sort();
    expect(ids(docs.filter((d) => d.kind !== 'CustomResourceDefinition'))).toEqual(ids(deployDocs));
    const firstOther = docs.findIndex((d) => !['CustomResourceDefinition', 'Namespace'].includes(d.kind));
    const lastCrd = docs.map((d) => d.kind).lastIndexOf('CustomResourceDefinition');
    const ns = docs.findIndex((d) => d.kind === 'Namespace');
    expect(lastCrd).toBeLessThan(firstOther);
    expect(ns).toBeLessThan(firstOther);
    // The Deployment runs the image the e2e run builds and loads under the same name.
    const image = docs.find((d) => d.kind === 'Deployment')!.spec.template.spec.containers[0].image;
    expect(readFileSync(join(ROOT, 'test', 'e2e', 'images.sh'), 'utf8')).toContain(`WARREN_IMAGE:-${image}}`);
  });
});
