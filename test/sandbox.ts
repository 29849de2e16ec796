// npm run sandbox: a local control plane, an isolated RabbitMQ and the operator, in the foreground
// until Ctrl-C. Writes .sandbox/kubeconfig and .sandbox/env for kubectl and for people.
import * as k8s from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Operator } from '../src/operator.ts';
import { KubeConfig } from '../src/runtime/kubeconfig.ts';
import { makeLogger } from '../src/runtime/log.ts';
import { ensureControlPlaneBinaries } from './support/control-plane.ts';
import { REPO, startEnvironment } from './support/environment.ts';
import { brokerPlan, machineFacts, type BrokerPlan } from './support/broker-plan.ts';

// The broker first, before minutes of building the control plane: the Debian package if installed,
// else installed now (root on Debian), else the project's broker root filesystem, else one line
// saying what to install (./support/broker-plan.ts). A plan that fails is not tried again.
const tried: BrokerPlan['kind'][] = [];
for (;;) {
  const plan = brokerPlan({ ...machineFacts(), failed: tried });
  if (plan.kind === 'package') break;
  if (plan.kind === 'missing') {
    console.error(plan.message);
    process.exit(1);
  }
  console.log(plan.say);
  tried.push(plan.kind);
  if (plan.kind === 'install-package') {
    const r = spawnSync(plan.command[0]!, plan.command.slice(1), { stdio: 'inherit' });
    if (r.status !== 0) console.error(`${plan.command.at(-1)}: exit ${r.status ?? r.signal}`);
    continue;
  }
  const build = spawnSync('bash', [join(REPO, 'test', 'rabbitmq-rootfs', 'build.sh'), plan.suite], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (build.status !== 0) {
    console.error(`test/rabbitmq-rootfs/build.sh ${plan.suite}: exit ${build.status ?? build.signal}`);
    continue;
  }
  // The harness runs that root filesystem's broker (test/support/rabbitmq.ts selectedBroker).
  process.env.WARREN_TEST_BROKER = plan.broker;
  break;
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
