// npm run bench -- --secrets N: the operator's memory (RSS) with N unrelated Secrets and N unrelated
// ConfigMaps of about 2 KB each in the cluster, against none, on a real control plane. The operator
// runs as its own process, as the image runs it (`node dist/main.js` with the image's NODE_OPTIONS,
// watching all namespaces); its RSS is read from /proc.
// Phases: none (baseline) → N created while it runs → restarted with the N present.
import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GROUP, VERSION } from '../src/api/common.ts';
import { buildDist, imageEnv, imageNodeArgs } from './image-env.ts';
import { startEnvironment, REPO } from '../test/support/environment.ts';
import { freePort } from '../test/support/ports.ts';
import { memory, pool } from './measure.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('secrets', 10_000);
const SETTLE_MS = arg('settle-seconds', 30) * 1000;
const NS = 'bench';
const NOISE = 'bench-noise';

/** MB to one decimal. */
const mib = (mb: number) => Math.round(mb * 10) / 10;
/** Median RSS over a few seconds, after the process has been left alone for `SETTLE_MS`. */
async function steady(pid: number): Promise<number> {
  await sleep(SETTLE_MS);
  const samples: number[] = [];
  for (let i = 0; i < 20; i++) {
    samples.push(memory(pid).rss);
    await sleep(500);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(500);
  }
  throw new Error(`bench: ${what} not reached in ${timeoutMs} ms`);
}

buildDist();
const IMAGE_ENV = imageEnv();

const dir = mkdtempSync(join(tmpdir(), 'warren-bench-secrets-'));
const env = await startEnvironment(dir);
let child: ChildProcess | undefined;
try {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(env.controlPlane.kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const g = { group: GROUP, version: VERSION, namespace: NS };

  // What warren does use: a broker (admin Secret) and a user with an imported password Secret.
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await core.createNamespace({ body: { metadata: { name: NOISE } } });
  const secret = (name: string, stringData: Record<string, string>) =>
    core.createNamespacedSecret({ namespace: NS, body: { metadata: { name }, stringData } });
  await secret('admin', { username: env.broker.username, password: env.broker.password });
  await secret('alice', { password: 'alice-password' });
  const create = (plural: string, kind: string, name: string, spec: unknown) =>
    custom.createNamespacedCustomObject({
      ...g,
      plural,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind, metadata: { name }, spec },
    });
  await create('rabbitbrokers', 'RabbitBroker', 'local', {
    endpoint: env.broker.managementUrl,
    credentialsSecretRef: { name: 'admin' },
    surveyInterval: '10s',
  });
  await create('rabbitusers', 'RabbitUser', 'alice', {
    brokerRef: { name: 'local' },
    username: 'bench-alice',
    credentialsSecretRef: { name: 'alice' },
  });

  const start = async () => {
    const port = await freePort();
    const proc = spawn(process.execPath, [...imageNodeArgs(), join(REPO, 'dist', 'main.js')], {
      cwd: REPO,
      env: {
        ...process.env,
        ...IMAGE_ENV,
        KUBECONFIG: env.controlPlane.kubeconfigPath,
        LEADER_ELECTION: 'false',
        HEALTH_PORT: String(port),
        HEALTH_HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await until('operator ready', 120_000, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok);
    await until('user Ready', 120_000, async () => {
      const u = (await custom.getNamespacedCustomObject({
        ...g,
        plural: 'rabbitusers',
        name: 'alice',
      })) as any;
      return !!u.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
    });
    return proc;
  };
  const stop = async (proc: ChildProcess) => {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  };

  const results: Record<string, unknown> = {
    secrets: N,
    configMaps: N,
    bytesEach: 2048,
    settleSeconds: SETTLE_MS / 1000,
  };

  child = await start();
  const pid = child.pid!;
  results.none = { steadyMiB: mib(await steady(pid)), peakMiB: mib(memory(pid).hwm) };
  console.error('baseline', results.none);

  // N unrelated Secrets and N unrelated ConfigMaps created while the operator watches.
  const t = Date.now();
  const names = Array.from({ length: N }, (_, i) => `noise-${String(i).padStart(5, '0')}`);
  await pool(names, 16, async (name) => {
    await core.createNamespacedSecret({
      namespace: NOISE,
      body: { metadata: { name }, data: { blob: randomBytes(1536).toString('base64') } },
    });
    await core.createNamespacedConfigMap({
      namespace: NOISE,
      body: { metadata: { name }, data: { blob: randomBytes(1536).toString('base64') } },
    });
  });
  results.createSeconds = (Date.now() - t) / 1000;
  results.createdWhileRunning = { steadyMiB: mib(await steady(pid)), peakMiB: mib(memory(pid).hwm) };
  console.error('created while running', results.createdWhileRunning);

  // A restart with them present.
  await stop(child);
  child = await start();
  const pid2 = child.pid!;
  results.restartedWithThem = { steadyMiB: mib(await steady(pid2)), peakMiB: mib(memory(pid2).hwm) };
  console.error('restarted with them', results.restartedWithThem);
  await stop(child);
  child = undefined;
  console.log(JSON.stringify(results, null, 2));
} finally {
  child?.kill('SIGKILL');
  await env.stop();
  rmSync(dir, { recursive: true, force: true });
}
