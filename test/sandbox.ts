// npm run sandbox: a local control plane, an isolated RabbitMQ and the operator, in the foreground
// until Ctrl-C. Writes .sandbox/kubeconfig and .sandbox/env for kubectl and for people.
import * as k8s from '@kubernetes/client-node';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Operator } from '../src/operator.ts';
import { KubeConfig } from '../src/runtime/kubeconfig.ts';
import { makeLogger } from '../src/runtime/log.ts';
import { ensureControlPlaneBinaries } from './support/control-plane.ts';
import { REPO, startEnvironment } from './support/environment.ts';
import { rabbitmqInstalled } from './support/rabbitmq.ts';

// Say at once what is missing, before minutes of building the control plane.
// (WARREN_TEST_BROKER=4.0 or 4.3 builds its own root filesystem instead.)
if ((process.env.WARREN_TEST_BROKER ?? '3.10') === '3.10' && !rabbitmqInstalled()) {
  console.error('npm run sandbox needs the Debian package rabbitmq-server: apt-get install rabbitmq-server');
  process.exit(1);
}

const dir = join(REPO, '.sandbox');
rmSync(join(dir, 'run'), { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
console.log('starting etcd, kube-apiserver, kube-controller-manager and RabbitMQ ...');
const binDir = ensureControlPlaneBinaries();
const env = await startEnvironment(join(dir, 'run'));
const kubeconfig = join(dir, 'kubeconfig');
const { controlPlane: cp, broker } = env;
writeFileSync(kubeconfig, readFileSync(cp.kubeconfigPath, 'utf8'));
writeFileSync(
  join(dir, 'env'),
  [
    `KUBECONFIG=${kubeconfig}`,
    `RABBITMQ_MANAGEMENT_URL=${broker.managementUrl}`,
    `RABBITMQ_AMQP_URL=${broker.amqpUrl}`,
    `RABBITMQ_ADMIN_USER=${broker.username}`,
    `RABBITMQ_ADMIN_PASSWORD=${broker.password}`,
    `PATH=${binDir}:$PATH`,
    '',
  ].join('\n'),
);

const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
await core.createNamespacedSecret({
  namespace: 'default',
  body: {
    metadata: { name: 'local-admin' },
    stringData: { username: broker.username, password: broker.password },
  },
});
await custom.createNamespacedCustomObject({
  group: 'warren.dev',
  version: 'v1alpha1',
  namespace: 'default',
  plural: 'rabbitbrokers',
  body: {
    apiVersion: 'warren.dev/v1alpha1',
    kind: 'RabbitBroker',
    metadata: { name: 'local' },
    spec: { endpoint: broker.managementUrl, credentialsSecretRef: { name: 'local-admin' } },
  },
});

const log = makeLogger(process.env.LOG_LEVEL ?? 'info');
const operator = new Operator({ kc: KubeConfig.fromFile(kubeconfig), log, identity: 'sandbox' });
await operator.startCaches();
operator.startControllers();

console.log(`
warren sandbox is up: Kubernetes ${cp.version}, RabbitMQ ${broker.version}
  kubeconfig          ${kubeconfig}
  management UI/API   ${broker.managementUrl}  (user ${broker.username}, password in .sandbox/env)
  AMQP                ${broker.amqpUrl}
RabbitBroker "local" in namespace "default" points at this broker. In another shell:
  set -a; . .sandbox/env; set +a
  kubectl apply -f examples/seed/
  kubectl wait --for=condition=Ready rabbit --all --timeout=60s && kubectl get rabbit
Ctrl-C stops everything.
`);

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping ...');
    await operator.stop();
    await env.stop();
    process.exit(0);
  });
}
