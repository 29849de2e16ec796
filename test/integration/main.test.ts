import * as k8s from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext, type TestContext } from '../support/context.ts';
import { REPO } from '../support/environment.ts';
import { createBroker } from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { startProcess, type Managed } from '../support/processes.ts';
import { eventually, isReadyNow } from '../support/wait.ts';

// `npm start` as a user runs it: the real entry point in child processes, two replicas with
// leader election, health and metrics endpoints.
let ctx: TestContext;
const replicas: Array<{ name: string; port: number; proc: Managed }> = [];

async function startReplica(name: string) {
  const port = await freePort();
  const proc = startProcess('warren', process.execPath, [join(REPO, 'src', 'main.ts')], {
    cwd: REPO,
    logFile: join(ctx.env.dir, `main-${ctx.namespace}-${name}.log`),
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: ctx.env.kubeconfigPath,
      WATCH_NAMESPACE: ctx.namespace,
      LEADER_ELECTION_NAMESPACE: ctx.namespace,
      POD_NAME: name,
      HEALTH_PORT: String(port),
      HEALTH_HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
    },
  });
  replicas.push({ name, port, proc });
  return { name, port, proc };
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
  ).spec?.holderIdentity;

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
    const metrics = (await get(leader.port, '/metrics')).text;
    expect(metrics).toMatch(/^warren_leader 1$/m);
    expect(metrics).toMatch(/^warren_survey_duration_seconds_count\{broker="[^"]+\/local"\} [1-9]/m);
    expect(metrics).toMatch(/^warren_unmanaged_objects\{broker="[^"]+\/local"\} \d+/m);
    expect(metrics).toMatch(
      /controller_runtime_reconcile_total\{controller="rabbitqueue",result="requeue_after"\} [1-9]/,
    );
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

  it('never logs the broker password', () => {
    for (const r of replicas) {
      const log = readFileSync(r.proc.logFile, 'utf8');
      expect(log.length).toBeGreaterThan(0);
      expect(log).not.toContain(ctx.env.adminPassword);
    }
  });
});
