import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { GROUP, VERSION } from '../../src/api/common.ts';
import { ALL_KINDS } from '../../src/kinds/index.ts';
import type { EnvironmentInfo } from './environment.ts';
import { enc, mgmt, type Mgmt } from './management.ts';

export interface TestContext {
  env: EnvironmentInfo;
  namespace: string;
  vhost: string;
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  broker: Mgmt;
  /** Creates a warren custom resource in this file's namespace. */
  create(plural: string, name: string, spec: unknown, extra?: Record<string, unknown>): Promise<any>;
  get(plural: string, name: string): Promise<any>;
  /** Merge-patches a resource's spec. */
  patchSpec(plural: string, name: string, spec: unknown): Promise<any>;
  remove(plural: string, name: string): Promise<void>;
  /** Resolves once the resource is gone from the API server. */
  waitGone(plural: string, name: string, timeoutMs?: number): Promise<void>;
  cleanup(): Promise<void>;
}

const kindOf = (plural: string) => ALL_KINDS.find((k) => k.plural === plural)?.kind ?? plural;

/** A namespace and a vhost of this test file's own, and clients for both sides. */
export async function testContext(
  fileUrl: string,
  override: Partial<EnvironmentInfo> = {},
): Promise<TestContext> {
  const env = { ...inject('env'), ...override };
  const stem = basename(fileURLToPath(fileUrl))
    .replace(/\.test\.ts$/, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 40);
  const namespace = `${stem}-${randomBytes(3).toString('hex')}`;
  const vhost = `test/${namespace}`;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(env.kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const broker = mgmt(env.managementUrl, env.adminUser, env.adminPassword);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const status = await broker.put(`/vhosts/${enc(vhost)}`, { description: `test file ${stem}` });
  if (status !== 201 && status !== 204) throw new Error(`creating test vhost: ${status}`);
  return {
    env,
    namespace,
    vhost,
    kc,
    core,
    custom,
    broker,
    create: (plural, name, spec, extra = {}) =>
      custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural,
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: kindOf(plural), metadata: { name, ...extra }, spec },
      }),
    get: (plural, name) =>
      custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name }),
    patchSpec: (plural, name, spec) =>
      custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace, plural, name, body: { spec } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    async remove(plural, name) {
      await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name });
    },
    async waitGone(plural, name, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        try {
          await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name });
        } catch (err) {
          if (err instanceof k8s.ApiException && err.code === 404) return;
          throw err;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${plural}/${name} still present after ${timeoutMs} ms`);
    },
    async cleanup() {
      await broker.del(`/vhosts/${enc(vhost)}`);
      await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    },
  };
}
