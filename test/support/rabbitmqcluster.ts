import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestContext } from './context.ts';
import { REPO } from './environment.ts';
import { eventually } from './wait.ts';

// A RabbitmqCluster as the RabbitMQ Cluster Operator would leave it, pointing at the test broker:
// the test's own minimal CRD (test/fixtures/rabbitmqcluster-crd.yaml), a default user Secret, and
// a Service without a selector (nothing routes to it: warren is given the host to use instead of
// the cluster DNS name, see startOperator's serviceHost).

const G = { group: 'rabbitmq.com', version: 'v1beta1', plural: 'rabbitmqclusters' };

export async function installClusterCRD(ctx: TestContext): Promise<void> {
  await promisify(execFile)(
    ctx.env.kubectl,
    [
      '--kubeconfig',
      ctx.env.kubeconfigPath,
      'apply',
      '--server-side',
      '-f',
      join(REPO, 'test/fixtures/rabbitmqcluster-crd.yaml'),
    ],
    { timeout: 60_000 },
  );
  const ext = ctx.kc.makeApiClient(k8s.ApiextensionsV1Api);
  await eventually(
    () => ext.readCustomResourceDefinition({ name: 'rabbitmqclusters.rabbitmq.com' }),
    (c) => !!c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'),
    { what: 'RabbitmqCluster CRD established' },
  );
}

export interface FakeCluster {
  name: string;
  namespace: string;
  /** Sets the default user Secret's data (rotation). */
  setDefaultUser(username: string, password: string): Promise<void>;
  patchStatus(status: unknown): Promise<void>;
  annotate(annotations: Record<string, string>): Promise<void>;
}

export async function createCluster(
  ctx: TestContext,
  opts: {
    name: string;
    namespace?: string;
    managementPort: number;
    username: string;
    password: string;
    tls?: boolean;
  },
): Promise<FakeCluster> {
  const namespace = opts.namespace ?? ctx.namespace;
  const secretName = `${opts.name}-default-user`;
  await ctx.core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: secretName },
      stringData: { username: opts.username, password: opts.password },
    },
  });
  await ctx.core.createNamespacedService({
    namespace,
    body: {
      metadata: { name: opts.name },
      spec: {
        clusterIP: 'None',
        ports: [
          { name: 'amqp', port: 5672 },
          { name: opts.tls ? 'management-tls' : 'management', port: opts.managementPort },
        ],
      },
    },
  });
  await ctx.custom.createNamespacedCustomObject({
    ...G,
    namespace,
    body: {
      apiVersion: 'rabbitmq.com/v1beta1',
      kind: 'RabbitmqCluster',
      metadata: { name: opts.name },
      spec: { replicas: 1, ...(opts.tls && { tls: { secretName: `${opts.name}-tls` } }) },
    },
  });
  const patchStatus = async (status: unknown) => {
    await ctx.custom.patchNamespacedCustomObjectStatus(
      { ...G, namespace, name: opts.name, body: { status } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  };
  await patchStatus({
    binding: { name: secretName },
    defaultUser: {
      secretReference: { name: secretName, namespace, keys: { username: 'username', password: 'password' } },
      serviceReference: { name: opts.name, namespace },
    },
  });
  return {
    name: opts.name,
    namespace,
    patchStatus,
    async setDefaultUser(username, password) {
      await ctx.core.patchNamespacedSecret(
        {
          namespace,
          name: secretName,
          body: {
            data: {
              username: Buffer.from(username).toString('base64'),
              password: Buffer.from(password).toString('base64'),
            },
          },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    },
    async annotate(annotations) {
      await ctx.custom.patchNamespacedCustomObject(
        { ...G, namespace, name: opts.name, body: { metadata: { annotations } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    },
  };
}
