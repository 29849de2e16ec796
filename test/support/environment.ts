import * as k8s from '@kubernetes/client-node';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { parse } from 'yaml';
import { rabbitmqInstalled, selectedBroker, startBroker, type Broker } from './rabbitmq.ts';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { reapOrphans, waitFor } from './processes.ts';

export const REPO = join(import.meta.dirname, '..', '..');

export interface Environment {
  dir: string;
  controlPlane: ControlPlane;
  broker: Broker;
  stop(): Promise<void>;
}

/** What tests receive from the global setup (plain data, serialisable). */
export interface EnvironmentInfo {
  dir: string;
  kubeconfigPath: string;
  kubectl: string;
  kubernetesVersion: string;
  managementUrl: string;
  amqpUrl: string;
  adminUser: string;
  adminPassword: string;
  rabbitmqVersion: string;
  brokerDir: string;
  brokerPorts: { amqp: number; management: number; dist: number };
}

export function describeEnvironment(env: Environment): EnvironmentInfo {
  return {
    dir: env.dir,
    kubeconfigPath: env.controlPlane.kubeconfigPath,
    kubectl: join(env.controlPlane.binDir, 'kubectl'),
    kubernetesVersion: env.controlPlane.version,
    managementUrl: env.broker.managementUrl,
    amqpUrl: env.broker.amqpUrl,
    adminUser: env.broker.username,
    adminPassword: env.broker.password,
    rabbitmqVersion: env.broker.version,
    brokerDir: env.broker.dir,
    brokerPorts: env.broker.ports,
  };
}

/**
 * Applies every CRD in crds/ (server-side apply of the raw YAML: client-node's typed CRD model
 * would drop keys such as `default` and `x-kubernetes-validations`) and waits until each is
 * Established.
 */
export async function installCRDs(kubeconfigPath: string, dir = join(REPO, 'crds')): Promise<string[]> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const cluster = kc.getCurrentCluster()!;
  const token = kc.getCurrentUser()!.token!;
  const dispatcher = new Agent({ connect: { ca: readFileSync(cluster.caFile!, 'utf8') } });
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const names: string[] = [];
  try {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
      const text = readFileSync(join(dir, file), 'utf8');
      const name = (parse(text) as { metadata: { name: string } }).metadata.name;
      names.push(name);
      const res = await request(
        `${cluster.server}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=warren-test&force=true`,
        {
          method: 'PATCH',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/apply-patch+yaml' },
          body: text,
          dispatcher,
        },
      );
      const body = await res.body.text();
      if (res.statusCode >= 300) throw new Error(`applying ${file}: ${res.statusCode} ${body}`);
    }
  } finally {
    await dispatcher.close();
  }
  for (const name of names) {
    await waitFor(
      `CRD ${name} Established`,
      async () => {
        const crd = await ext.readCustomResourceDefinition({ name });
        return !!crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  }
  return names;
}

/** One control plane and one broker, with the CRDs installed. */
export async function startEnvironment(dir: string): Promise<Environment> {
  await reapOrphans();
  // Say at once what is missing, before minutes of building the control plane.
  if (!selectedBroker().rootfs && !rabbitmqInstalled()) {
    throw new Error('the Debian package rabbitmq-server is missing: apt-get install rabbitmq-server');
  }
  mkdirSync(dir, { recursive: true });
  const [cp, rb] = await Promise.allSettled([
    startControlPlane(join(dir, 'kube')),
    startBroker(join(dir, 'rabbitmq')),
  ]);
  if (cp.status === 'rejected' || rb.status === 'rejected') {
    if (cp.status === 'fulfilled') await cp.value.stop();
    if (rb.status === 'fulfilled') await rb.value.stop();
    throw cp.status === 'rejected' ? cp.reason : (rb as PromiseRejectedResult).reason;
  }
  const controlPlane = cp.value;
  const broker = rb.value;
  const env: Environment = {
    dir,
    controlPlane,
    broker,
    async stop() {
      await Promise.allSettled([controlPlane.stop(), broker.stop()]);
    },
  };
  try {
    await installCRDs(controlPlane.kubeconfigPath);
  } catch (err) {
    await env.stop();
    throw err;
  }
  return env;
}
