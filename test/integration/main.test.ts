import * as k8s from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext, type TestContext } from '../support/context.ts';
import { REPO } from '../support/environment.ts';
import { createBroker } from '../support/operator.ts';
import { startMain, type MainProcess } from '../support/main-process.ts';
import { eventually, isReadyNow } from '../support/wait.ts';

// `npm start` as a user runs it: the real entry point in child processes, two replicas with
// leader election, health and metrics endpoints.
let ctx: TestContext;
const replicas: MainProcess[] = [];

async function startReplica(name: string) {
  const r = await startMain({
    name,
    namespace: ctx.namespace,
    kubeconfigPath: ctx.env.kubeconfigPath,
    logFile: join(ctx.env.dir, `main-${ctx.namespace}-${name}.log`),
  });
  replicas.push(r);
  return r;
}

const get = async (port: number, path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, text: await res.text() };
};
const leaseHolder = async () =>
  (
    await ctx.kc
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: 'warren-leader', namespace: ctx.namespace })
  ).spec?.holderIdentity?.replace(/_[0-9a-f]{8}$/, ''); // POD_NAME, without the per-process suffix

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  await createBroker(ctx);
});
afterAll(async () => {
  for (const r of replicas) await r.proc.stop();
  await ctx?.cleanup();
});

describe('the operator process', () => {
  it('serves health and readiness, elects one leader and reconciles', async () => {
    const a = await startReplica('replica-a');
    const b = await startReplica('replica-b');
    for (const r of [a, b]) {
      await eventually(
        () => get(r.port, '/readyz'),
        (x) => x.status === 200,
        { what: `${r.name} ready` },
      );
      expect((await get(r.port, '/healthz')).status).toBe(200);
    }
    const holder = await eventually(leaseHolder, (h) => h === 'replica-a' || h === 'replica-b', {
      what: 'a leader',
    });
    await ctx.create('rabbitqueues', 'via-main', { brokerRef: { name: 'local' }, vhost: ctx.vhost });
    await eventually(() => ctx.get('rabbitqueues', 'via-main'), isReadyNow, { what: 'queue Ready' });
    const leader = holder === a.name ? a : b;
    const standby = holder === a.name ? b : a;
    // The reconcile that wrote Ready is counted after its status write returns, and the survey
    // runs on its own schedule: wait for the metrics themselves, not for the queue.
    const expected = [
      /^warren_leader 1$/m,
      /^warren_survey_duration_seconds_count\{broker="[^"]+\/local"\} [1-9]/m,
      /^warren_unmanaged_objects\{broker="[^"]+\/local"\} \d+/m,
      /controller_runtime_reconcile_total\{controller="rabbitqueue",result="requeue_after"\} [1-9]/,
    ];
    const metrics = await eventually(
      async () => (await get(leader.port, '/metrics')).text,
      (text) => expected.every((re) => re.test(text)),
      { what: 'leader metrics: leader gauge, survey, counted reconcile' },
    );
    for (const re of expected) expect(metrics).toMatch(re);
    expect((await get(standby.port, '/metrics')).text).toMatch(/^warren_leader 0$/m);
  });

  it('hands over to the standby when the leader stops', async () => {
    const holder = await leaseHolder();
    const leader = replicas.find((r) => r.name === holder)!;
    const standby = replicas.find((r) => r.name !== holder)!;
    await leader.proc.stop();
    expect(await leader.proc.exited).toBe(0);
    // The leader hands the lease back on SIGTERM, so the standby takes over in a retry period or two.
    await eventually(leaseHolder, (h) => h === standby.name, { timeoutMs: 20_000, what: 'standby leads' });
    await ctx.create('rabbitqueues', 'after-failover', { brokerRef: { name: 'local' }, vhost: ctx.vhost });
    await eventually(() => ctx.get('rabbitqueues', 'after-failover'), isReadyNow, {
      what: 'queue Ready after failover',
    });
  });

  it('a standby stopped while waiting to lead exits without ever reconciling', async () => {
    const holder = await leaseHolder();
    const standby = await startReplica('replica-c');
    await eventually(
      () => get(standby.port, '/readyz'),
      (x) => x.status === 200,
      { what: 'replica-c ready' },
    );
    expect(await leaseHolder()).toBe(holder);
    await standby.proc.stop();
    expect(await standby.proc.exited).toBe(0);
    // The process has exited; what it wrote to its stdout pipe reaches the log file just after.
    const log = await eventually(
      async () => readFileSync(standby.proc.logFile, 'utf8'),
      (l) => l.includes('shutting down'),
      { timeoutMs: 5_000, what: "replica-c's shutdown line in its log" },
    );
    expect(log).not.toContain('became leader');
    expect(log).not.toContain('"msg":"reconciling"');
  });

  it('never logs the broker password', () => {
    for (const r of replicas) {
      const log = readFileSync(r.proc.logFile, 'utf8');
      expect(log.length).toBeGreaterThan(0);
      expect(log).not.toContain(ctx.env.adminPassword);
    }
  });
});

/** Runs the entry point to its exit (bounded); its exit code and everything it printed. */
function runToExit(
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [join(REPO, 'src', 'main.ts')], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`still running after ${timeoutMs} ms; output so far:\n${output}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('start-up checks of the operator process', () => {
  it('stops with exit code 2 and names the variable when a setting is bad', async () => {
    const base = { PATH: process.env.PATH, KUBECONFIG: ctx.env.kubeconfigPath, LEADER_ELECTION: 'false' };
    const bad = await runToExit({ ...base, WARREN_CONCURRENCY: 'abc' });
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('WARREN_CONCURRENCY=abc: expected a whole number from 1 to 1000');
    expect(bad.output).not.toContain('starting');

    const list = await runToExit({ ...base, WATCH_NAMESPACE: `${ctx.namespace},Not_A_Namespace` });
    expect(list.code).toBe(2);
    expect(list.output).toContain(
      `WATCH_NAMESPACE=${ctx.namespace},Not_A_Namespace: expected namespace names`,
    );
    expect(list.output).toContain("not: 'Not_A_Namespace'");
  });

  it('stops with exit code 2 and says where it looked when there is no cluster', async () => {
    const home = mkdtempSync(join(ctx.env.dir, 'empty-home-'));
    const none = await runToExit({ PATH: process.env.PATH, HOME: home });
    expect(none.code).toBe(2);
    expect(none.output).toContain('no Kubernetes cluster found');
    expect(none.output).toContain('KUBECONFIG is not set');
    expect(none.output).toContain(`${home}/.kube/config does not exist`);
    expect(none.output).toContain('not in a pod');

    const missing = await runToExit({ PATH: process.env.PATH, HOME: home, KUBECONFIG: join(home, 'nope') });
    expect(missing.code).toBe(2);
    expect(missing.output).toContain(`no such file: ${join(home, 'nope')}`);
  });
});
