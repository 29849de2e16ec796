import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { GROUP } from '../../src/api/common.ts';
import { LEASE_NAME, parseConfig } from '../../src/config.ts';
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
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const crds = crdFiles.map((f) => parse(readFileSync(join(CRDS, f), 'utf8')) as Doc);
const plurals = crds.map((c) => c.spec.names.plural as string);

const deployDocs = readdirSync(DEPLOY)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
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

describe('deploy/: RBAC', () => {
  const role = one('ClusterRole', 'warren');
  const rules = role.rules as Doc[];

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

  it('binds the ClusterRole and the lease Role to the warren ServiceAccount', () => {
    const sa = one('ServiceAccount', 'warren');
    expect(sa.metadata.namespace).toBe('warren-system');
    const subject = { kind: 'ServiceAccount', name: 'warren', namespace: 'warren-system' };
    const crb = one('ClusterRoleBinding');
    expect(crb.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'warren',
    });
    expect(crb.subjects).toEqual([subject]);
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

describe('deploy/: kustomization and render.sh', () => {
  it('kustomization lists every CRD file and every manifest in deploy/', () => {
    const k = parse(readFileSync(join(DEPLOY, 'kustomization.yaml'), 'utf8'));
    expect(k.kind).toBe('Kustomization');
    const resources: string[] = k.resources;
    for (const f of crdFiles) expect(resources).toContain(`../crds/${f}`);
    for (const f of ['namespace.yaml', 'rbac.yaml', 'deployment.yaml']) expect(resources).toContain(f);
    expect(resources.filter((r) => r.startsWith('../crds/'))).toHaveLength(crdFiles.length);
    expect(new Set(resources).size).toBe(resources.length);
  });

  it('render.sh prints every CRD and every deploy/ object as one multi-document YAML', () => {
    const out = execFileSync('bash', ['deploy/render.sh'], { cwd: ROOT, encoding: 'utf8' });
    const docs = docsOf(out, 'render.sh output');
    const renderedCrds = docs.filter((d) => d.kind === 'CustomResourceDefinition');
    expect(renderedCrds.map((d) => d.spec.names.plural).sort()).toEqual([...plurals].sort());
    expect(renderedCrds).toEqual(expect.arrayContaining(crds));
    const ids = (ds: Doc[]) =>
      ds.map((d) => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`).sort();
    expect(ids(docs.filter((d) => d.kind !== 'CustomResourceDefinition'))).toEqual(ids(deployDocs));
    // CRDs and the namespace come before anything that needs them.
    const firstOther = docs.findIndex((d) => !['CustomResourceDefinition', 'Namespace'].includes(d.kind));
    const lastCrd = docs.map((d) => d.kind).lastIndexOf('CustomResourceDefinition');
    const ns = docs.findIndex((d) => d.kind === 'Namespace');
    expect(lastCrd).toBeLessThan(firstOther);
    expect(ns).toBeLessThan(firstOther);
  });

  it('render.sh works from another directory', () => {
    const out = execFileSync('bash', [join(DEPLOY, 'render.sh')], { cwd: '/', encoding: 'utf8' });
    expect(docsOf(out, 'render.sh from /').length).toBe(crds.length + deployDocs.length);
  });
});
