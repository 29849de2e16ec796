import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO } from '../support/environment.ts';

// deploy/ against a real API server: every manifest passes server-side validation and admission
// (`kubectl apply --server-side --dry-run=server`), including the Pod Security "restricted" profile
// that deploy/namespace.yaml enforces; and install.yaml is what kustomize itself renders.
const env = inject('env');
const DEPLOY = join(REPO, 'deploy');

async function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(env.kubectl, ['--kubeconfig', env.kubeconfigPath, ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 16 << 20,
  });
}
const dryRun = (...args: string[]) => kubectl('apply', '--server-side', '--dry-run=server', ...args);

type Doc = Record<string, any>;
const byId = (text: string) =>
  new Map(
    parseAllDocuments(text)
      .map((d) => d.toJS() as Doc)
      .filter(Boolean)
      .map((d) => [`${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`, d]),
  );

// The Prometheus Operator's CRD is not part of warren; a schemaless stand-in lets the optional
// ServiceMonitor be checked for everything else (namespace, names, apiVersion and kind).
const SERVICE_MONITOR_CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: servicemonitors.monitoring.coreos.com }
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: { kind: ServiceMonitor, plural: servicemonitors, singular: servicemonitor, listKind: ServiceMonitorList }
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`;

describe('deploy/ on the API server', () => {
  beforeAll(async () => {
    // Namespaced objects are only validated in a namespace that exists: create warren-system for real.
    await kubectl('apply', '--server-side', '-f', join(DEPLOY, 'namespace.yaml'));
    await promisify(execFile)(
      'bash',
      [
        '-c',
        `"$0" --kubeconfig "$1" apply --server-side -f - <<'EOF'\n${SERVICE_MONITOR_CRD}\nEOF`,
        env.kubectl,
        env.kubeconfigPath,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    await kubectl(
      'wait',
      '--for=condition=Established',
      'crd/servicemonitors.monitoring.coreos.com',
      '--timeout=30s',
    );
  });
  afterAll(async () => {
    await kubectl('delete', 'crd', 'servicemonitors.monitoring.coreos.com', '--wait=false').catch(() => {});
    await kubectl('delete', 'namespace', 'warren-system', '--wait=false').catch(() => {});
  });

  it('install.yaml passes server-side validation and admission, with no Pod Security warning', async () => {
    const { stdout, stderr } = await dryRun('-f', 'deploy/install.yaml');
    expect(stderr).not.toMatch(/PodSecurity|Warning/);
    for (const id of byId(readFileSync(join(DEPLOY, 'install.yaml'), 'utf8')).keys()) {
      const [kind, , name] = id.split('/');
      expect(stdout.toLowerCase(), id).toContain(`${kind!.toLowerCase()}`);
      expect(stdout, id).toContain(`/${name} `);
    }
  });

  it('a Deployment that breaks the restricted profile is warned about (so the silence above means something)', async () => {
    const deployment = [...byId(readFileSync(join(DEPLOY, 'deployment.yaml'), 'utf8')).values()][0]!;
    delete deployment.spec.template.spec.containers[0].securityContext;
    delete deployment.spec.template.spec.securityContext;
    const { stderr } = await promisify(execFile)(
      'bash',
      [
        '-c',
        `"$0" --kubeconfig "$1" apply --server-side --dry-run=server -f - <<'EOF'\n${JSON.stringify(deployment)}\nEOF`,
        env.kubectl,
        env.kubeconfigPath,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(stderr).toMatch(/would violate PodSecurity "restricted/);
  });

  it('every manifest in deploy/ and deploy/optional/ passes on its own', async () => {
    const files = [
      ...readdirSync(DEPLOY)
        .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
        .map((f) => `deploy/${f}`),
      ...readdirSync(join(DEPLOY, 'optional'))
        .filter((f) => f.endsWith('.yaml') && f !== 'prometheusrule.yaml') // CRD not here: test/unit/alerts.test.ts
        .map((f) => `deploy/optional/${f}`),
    ];
    expect(files).toContain('deploy/optional/servicemonitor.yaml');
    for (const f of files) {
      const { stderr } = await dryRun('-f', f);
      expect(stderr, f).not.toMatch(/PodSecurity|Warning/);
    }
  });

  it('the namespaced install.yaml and rbac-namespace.yaml pass server-side validation', async () => {
    const { stderr } = await dryRun('-f', 'deploy/namespaced/install.yaml');
    expect(stderr).not.toMatch(/PodSecurity|Warning/);
    await dryRun('-n', 'warren-system', '-f', 'deploy/namespaced/rbac-namespace.yaml');
  });

  it('kubectl apply -k deploy works, and kustomize renders exactly the objects of install.yaml', async () => {
    await dryRun('-k', 'deploy');
    const { stdout } = await kubectl('kustomize', 'deploy');
    const rendered = byId(stdout);
    const install = byId(readFileSync(join(DEPLOY, 'install.yaml'), 'utf8'));
    expect([...rendered.keys()].sort()).toEqual([...install.keys()].sort());
    for (const [id, doc] of install) expect(rendered.get(id), id).toEqual(doc);
  });
});
