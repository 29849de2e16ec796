// npm run bench [-- --scenarios LIST | --queues N | --secrets N | --survey N | --list-cost N]: warren at scale on a
// real control plane and broker (loopback only). The default is bench/perf.ts. `--queues N` measures:
// convergence of N RabbitQueues, the drift survey's cost, repair latency of a deleted
// queue, and the broker writes an operator restart makes when everything is in place (should be 0).
import * as k8s from '@kubernetes/client-node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { GROUP, VERSION } from '../src/api/common.ts';
import { Operator } from '../src/operator.ts';
import { KubeConfig } from '../src/runtime/kubeconfig.ts';
import { ManagementClient } from '../src/rabbitmq/index.ts';
import { startEnvironment } from '../test/support/environment.ts';
import { enc, mgmt } from '../test/support/management.ts';
import { pool } from './measure.ts';

// `--secrets N` runs the Secret-memory benchmark (bench/secrets.ts), `--survey N` the survey's
// cost with N objects of each routing kind, or `--survey 1 --mixed K` with the mixed workload times
// K (bench/survey.ts), instead.
if (process.argv.includes('--secrets')) {
  await import('./secrets.ts');
  process.exit(0);
}
if (process.argv.includes('--survey')) {
  await import('./survey.ts');
  process.exit(0);
}
// `--list-cost N`: the broker's CPU for reading N queues in pages or in one request (bench/list-cost.ts).
if (process.argv.includes('--list-cost')) {
  await import('./list-cost.ts');
  process.exit(0);
}
// `--write-cost N`: what each kind of write costs the API server and etcd (bench/write-cost.ts).
if (process.argv.includes('--write-cost')) {
  await import('./write-cost.ts');
  process.exit(0);
}
// `--large-tenant N` (default 50,000) or `--fat K` (default 1,000): one tenant's many or fat objects
// synced and reconciled while another tenant's new queue waits (bench/large-tenant.ts).
if (process.argv.includes('--large-tenant') || process.argv.includes('--fat')) {
  await import('./large-tenant.ts');
  process.exit(0);
}
// Without --queues: the throughput, CPU, memory and requests table against measured floors
// (bench/perf.ts, `--scenarios` to choose).
if (!process.argv.includes('--queues')) {
  await import('./perf.ts');
  process.exit(0);
}

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('queues', 10_000);
const NS = 'bench';
const VHOST = 'bench';
const results: Record<string, unknown> = { queues: N };

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, intervalMs = 1000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(intervalMs);
  }
  throw new Error(`bench: ${what} not reached in ${timeoutMs} ms`);
}

const dir = mkdtempSync(join(tmpdir(), 'warren-bench-'));
const env = await startEnvironment(dir);
let operator: Operator | undefined;
try {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(env.controlPlane.kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const admin = mgmt(env.broker.managementUrl, env.broker.username, env.broker.password);
  const log = pino({ level: 'warn' }, pino.destination(join(dir, 'operator.log')));
  const start = () => {
    const op = new Operator({
      kc: KubeConfig.fromFile(env.controlPlane.kubeconfigPath),
      log,
      namespace: NS,
      concurrency: 8,
      resyncMs: 3_600_000,
      identity: 'bench',
    });
    return op.startCaches().then(() => (op.startControllers(), op));
  };
  const g = { group: GROUP, version: VERSION, namespace: NS };

  await core.createNamespace({ body: { metadata: { name: NS } } });
  await admin.put(`/vhosts/${VHOST}`, { description: 'bench' });
  await core.createNamespacedSecret({
    namespace: NS,
    body: {
      metadata: { name: 'admin' },
      stringData: { username: env.broker.username, password: env.broker.password },
    },
  });
  await custom.createNamespacedCustomObject({
    ...g,
    plural: 'rabbitbrokers',
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'RabbitBroker',
      metadata: { name: 'local' },
      spec: {
        endpoint: env.broker.managementUrl,
        credentialsSecretRef: { name: 'admin' },
        surveyInterval: '10s',
      },
    },
  });
  operator = await start();

  // Convergence.
  const names = Array.from({ length: N }, (_, i) => `q-${String(i).padStart(5, '0')}`);
  let t = Date.now();
  await pool(names, 16, async (name) => {
    await custom.createNamespacedCustomObject({
      ...g,
      plural: 'rabbitqueues',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'RabbitQueue',
        metadata: { name },
        spec: { brokerRef: { name: 'local' }, vhost: VHOST },
      },
    });
  });
  results.createSeconds = (Date.now() - t) / 1000;
  const readyCount = async () => {
    const list = (await custom.listNamespacedCustomObject({ ...g, plural: 'rabbitqueues' })) as {
      items: any[];
    };
    return list.items.filter((q) =>
      q.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'),
    ).length;
  };
  await until('all queues Ready', 30 * 60_000, async () => (await readyCount()) === N, 2000);
  results.convergeSecondsFromFirstCreate = (Date.now() - t) / 1000;
  results.convergeQueuesPerSecond = Math.round(N / ((Date.now() - t) / 1000));
  console.error(`converged: ${N} queues Ready in ${results.convergeSecondsFromFirstCreate} s`);

  // The survey, as the operator runs it (from the RabbitBroker's status) and one bulk read timed alone.
  const surveys: Array<{ durationMs: number; requests: number; managed: number }> = [];
  let lastSurvey = '';
  await until('3 surveys', 120_000, async () => {
    const b = (await custom.getNamespacedCustomObject({
      ...g,
      plural: 'rabbitbrokers',
      name: 'local',
    })) as any;
    const s = b.status?.survey;
    if (s && s.lastSurveyTime !== lastSurvey && s.managed === N) {
      lastSurvey = s.lastSurveyTime;
      surveys.push({ durationMs: s.durationMs, requests: s.requests, managed: s.managed });
    }
    return surveys.length >= 3;
  });
  results.survey = surveys;
  const client = new ManagementClient({
    endpoint: env.broker.managementUrl,
    username: env.broker.username,
    password: env.broker.password,
  });
  t = Date.now();
  const listed = await client.listQueues(VHOST);
  results.queueListOneRequestMs = Date.now() - t;
  results.queueListed = listed.length;
  client.close();

  // Repair latency of a queue deleted in the broker (survey interval 10 s).
  const latencies: number[] = [];
  for (const name of names.slice(0, 3)) {
    await admin.del(`/queues/${VHOST}/${enc(name)}`);
    t = Date.now();
    await until(
      `${name} repaired`,
      60_000,
      async () => (await admin.get(`/queues/${VHOST}/${enc(name)}`)).status === 200,
      50,
    );
    latencies.push(Date.now() - t);
  }
  results.repairLatencyMs = latencies;

  // Restart with everything in place: the first survey checks everything in bulk; each
  // resource's own reconcile is spread over the resync window. Count requests in the first 30 s.
  await operator.stop();
  operator = await start();
  await sleep(30_000);
  const requests = [...operator.brokerRequests().values()][0]!;
  results.restartFirst30s = { byMethod: requests.byMethod };
  console.log(JSON.stringify(results, null, 2));
} finally {
  await operator?.stop();
  await env.stop();
  rmSync(dir, { recursive: true, force: true });
}
