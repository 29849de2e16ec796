import * as k8s from '@kubernetes/client-node';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/common.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { createBroker } from '../support/operator.ts';
import { startHoldingProxy, type HoldingProxy } from '../support/http-proxy.ts';
import { startMain } from '../support/main-process.ts';
import type { Managed } from '../support/processes.ts';
import { kubeconfigThrough, startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { eventually, isReadyNow } from '../support/wait.ts';

// Faults on the real entry point: two replicas of `node src/main.ts` electing on a Lease with
// short timings (lease 6s, renew deadline 4s, retry 1s; production keeps 15s/10s/2s). Every write
// a replica makes (broker and Kubernetes) is logged at debug level with pino's timestamp, so the
// logs show whether two replicas ever wrote at the same time.
const LEASE = { WARREN_LEASE_DURATION: '6s', WARREN_RENEW_DEADLINE: '4s', WARREN_RETRY_PERIOD: '1s' };

let ctx: TestContext;
const replicas: Replica[] = [];
const proxies: TcpProxy[] = [];
const holders: HoldingProxy[] = [];

interface Replica {
  name: string;
  port: number;
  proc: Managed;
}

interface LogLine {
  time: number;
  msg: string;
  method?: string;
  path?: string;
  err?: string;
}

async function startReplica(name: string, kubeconfigPath: string): Promise<Replica> {
  const r = await startMain({
    name,
    namespace: ctx.namespace,
    kubeconfigPath,
    logFile: join(ctx.env.dir, `faults-${ctx.namespace}-${name}.log`),
    env: { WARREN_CONCURRENCY: '8', ...LEASE },
  });
  replicas.push(r);
  return r;
}

function logOf(r: Replica): LogLine[] {
  const lines: LogLine[] = [];
  for (const line of readFileSync(r.proc.logFile, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line));
    } catch {
      /* a line cut short by SIGKILL */
    }
  }
  return lines;
}
const writesOf = (r: Replica) =>
  logOf(r).filter((l) => l.msg === 'broker write' || l.msg === 'kubernetes write');
const queueWrites = (r: Replica) =>
  logOf(r).filter((l) => l.msg === 'broker write' && l.path?.startsWith('/api/queues/')).length;
const lineOf = (r: Replica, msg: string) => logOf(r).find((l) => l.msg === msg);

const leaseHolder = async () =>
  (
    await ctx.kc
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: 'warren-leader', namespace: ctx.namespace })
  ).spec?.holderIdentity?.replace(/_[0-9a-f]{8}$/, ''); // POD_NAME, without the per-process suffix

const readyz = async (r: Replica) => (await fetch(`http://127.0.0.1:${r.port}/readyz`)).status;

/** Names of this test's queues that are Ready at their generation. */
async function readyQueues(prefix: string): Promise<Set<string>> {
  const list = (await ctx.custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ctx.namespace,
    plural: 'rabbitqueues',
  })) as { items: any[] };
  return new Set(
    list.items.filter((q) => q.metadata.name.startsWith(prefix) && isReadyNow(q)).map((q) => q.metadata.name),
  );
}

/** Names of the queues in the test's vhost, read from the broker itself. */
async function brokerQueues(): Promise<Set<string>> {
  const res = await ctx.broker.get(`/queues/${enc(ctx.vhost)}?columns=name&disable_stats=true`);
  if (res.status !== 200) throw new Error(`listing queues: ${res.status}`);
  return new Set((res.body as Array<{ name: string }>).map((q) => q.name));
}

/** Creates the queues, at most `limit` requests at once. */
async function createQueues(names: string[], limit = 16): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < names.length) {
        const name = names[next++]!;
        await ctx.create('rabbitqueues', name, { brokerRef: { name: 'local' }, vhost: ctx.vhost });
      }
    }),
  );
}

async function exitOf(r: Replica, timeoutMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${r.name} still running after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([r.proc.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  await createBroker(ctx);
});
afterAll(async () => {
  for (const r of replicas) await r.proc.stop();
  for (const p of proxies) await p.close();
  for (const h of holders) await h.close();
  await ctx?.cleanup();
});

/**
 * A leads through a proxy to the API server, B stands by; while A declares a burst of queues,
 * `fault` is applied to A's proxy. A must stop (and its last write precede B's leadership), B must
 * lead and converge everything. Returns A's and B's replicas for more checks.
 */
async function handOverUnder(prefix: string, fault: (proxy: TcpProxy) => void) {
  for (const r of replicas.splice(0)) await r.proc.stop(); // a leader still running hands the lease back
  const original = readFileSync(ctx.env.kubeconfigPath, 'utf8');
  const server = /^\s*server:\s*(\S+)/m.exec(original)![1]!;
  const proxy = await startTcpProxy(server);
  proxies.push(proxy);
  const proxied = join(ctx.env.dir, `kubeconfig-${ctx.namespace}-${prefix}`);
  writeFileSync(proxied, kubeconfigThrough(original, proxy.url));

  const a = await startReplica(`${prefix}-a`, proxied);
  await eventually(leaseHolder, (h) => h === a.name, { timeoutMs: 30_000, what: `${a.name} leads` });
  const b = await startReplica(`${prefix}-b`, ctx.env.kubeconfigPath);
  await eventually(
    () => readyz(b),
    (s) => s === 200,
    { timeoutMs: 30_000, what: `${b.name} ready (caches synced)` },
  );

  const names = Array.from({ length: 150 }, (_, i) => `${prefix}-${i}`);
  const creating = createQueues(names);
  await eventually(
    async () => queueWrites(a),
    // A few writes are enough to be mid-burst; a loaded CI machine may take its time to get there.
    (n) => n >= 3,
    { timeoutMs: 120_000, what: `${a.name} declaring queues` },
  );
  fault(proxy);
  await creating; // the test's own client talks to the API server directly

  const stopped = await eventually(
    async () => lineOf(a, 'stopped reconciling'),
    (l) => l !== undefined,
    { timeoutMs: 20_000, what: `${a.name} to stop reconciling` },
  );
  const leads = await eventually(
    async () => lineOf(b, 'became leader'),
    (l) => l !== undefined,
    { timeoutMs: 30_000, what: `${b.name} to become leader` },
  );
  expect(stopped!.time).toBeLessThan(leads!.time);

  await eventually(
    () => readyQueues(`${prefix}-`),
    (s) => s.size === names.length,
    { timeoutMs: 150_000, intervalMs: 1000, what: 'every queue Ready' },
  );
  const inBroker = await eventually(brokerQueues, (s) => names.every((n) => s.has(n)), {
    timeoutMs: 30_000,
    what: 'every queue in the broker',
  });
  expect(names.filter((n) => !inBroker.has(n))).toEqual([]);

  // A exits (to come back as a standby); only then is its log complete.
  expect(await exitOf(a, 40_000)).toBe(1);
  const aWrites = writesOf(a);
  const bWrites = writesOf(b);
  expect(aWrites.length).toBeGreaterThan(0);
  expect(bWrites.length).toBeGreaterThan(0);
  const lastA = Math.max(...aWrites.map((w) => w.time));
  const firstB = Math.min(...bWrites.map((w) => w.time));
  // At no moment did both write: A's last write precedes B's leadership, B's first follows it.
  expect(lastA).toBeLessThan(leads!.time);
  expect(firstB).toBeGreaterThanOrEqual(leads!.time);
  return { a, b };
}

describe('leader election under faults', () => {
  it('a leader whose API server connection stalls stops writing before the standby takes over', async () => {
    await handOverUnder('stall', (proxy) => proxy.stall());
  }, 300_000);

  it('a leader whose API server answers too slowly cuts off its writes in flight before the standby takes over', async () => {
    // 2.5 s each way: a Lease renewal cannot finish within the 4 s renew deadline, while A's
    // workers keep going slowly, their status patches in flight when the deadline passes.
    const { a } = await handOverUnder('slow', (proxy) => proxy.delay(2500));
    // Writes were in flight at the loss and were cut off (not left to land after B led).
    const cut = logOf(a).filter(
      (l) =>
        (l.msg === 'reconcile failed' || l.msg === 'event not recorded') &&
        /^leadership ended/.test(String(l.err)),
    );
    expect(cut.length).toBeGreaterThan(0);
  }, 300_000);

  it("a broker write sent before the old leader's fence closed, landing after the new leader re-declared the object, is repaired by the new leader", async () => {
    // HTTP cannot take back a request the broker has begun: a DELETE the old leader sent goes on
    // after the old leader cut it off. The hold proxy stands for such a broker: it keeps A's DELETE
    // until B has declared the queue again, then sends it on.
    for (const r of replicas.splice(0)) await r.proc.stop();
    const hold = await startHoldingProxy(ctx.env.managementUrl);
    holders.push(hold);
    await createBroker(ctx, 'held', hold.url);
    const original = readFileSync(ctx.env.kubeconfigPath, 'utf8');
    const proxy = await startTcpProxy(/^\s*server:\s*(\S+)/m.exec(original)![1]!);
    proxies.push(proxy);
    const proxied = join(ctx.env.dir, `kubeconfig-${ctx.namespace}-late`);
    writeFileSync(proxied, kubeconfigThrough(original, proxy.url));
    const a = await startReplica('late-a', proxied);
    await eventually(leaseHolder, (h) => h === a.name, { timeoutMs: 30_000, what: 'late-a leads' });
    const b = await startReplica('late-b', ctx.env.kubeconfigPath);
    await eventually(
      () => readyz(b),
      (s) => s === 200,
      { timeoutMs: 30_000, what: 'late-b ready' },
    );
    const spec = { brokerRef: { name: 'held' }, vhost: ctx.vhost };
    await ctx.create('rabbitqueues', 'late', spec);
    await eventually(() => ctx.get('rabbitqueues', 'late'), isReadyNow, { what: 'late Ready' });

    const path = `/api/queues/${enc(ctx.vhost)}/late`;
    const declaredAgain = () => hold.answers.filter((x) => x === `PUT ${path} 201`).length >= 2;
    hold.holdOnce('DELETE', path, declaredAgain);
    await ctx.remove('rabbitqueues', 'late');
    await eventually(
      async () => hold.holding,
      (h) => h,
      { timeoutMs: 30_000, what: "late-a's DELETE at the broker" },
    );
    proxy.stall(); // A loses the Lease with its DELETE still out
    await eventually(leaseHolder, (h) => h === b.name, { timeoutMs: 30_000, what: 'late-b leads' });
    // B finishes the deletion, and the queue is declared again.
    await ctx.waitGone('rabbitqueues', 'late');
    await ctx.create('rabbitqueues', 'late', spec);
    // A's DELETE lands after B's declaration...
    await eventually(
      async () => hold.answers.some((x) => x.startsWith(`DELETE ${path} `) && x.endsWith(' held')),
      (landed) => landed,
      { timeoutMs: 60_000, what: "late-a's DELETE landing" },
    );
    const order = hold.answers.filter((x) => x.includes(` ${path} `));
    const heldAt = order.findIndex((x) => x.endsWith(' held'));
    expect(order[heldAt]).toBe(`DELETE ${path} 204 held`); // it did delete B's queue
    expect(order.slice(0, heldAt).filter((x) => x === `PUT ${path} 201`).length).toBe(2);
    // ...and B's next survey puts the queue back: the late write does not undo B's work for long.
    await eventually(
      async () => hold.answers.slice(hold.answers.indexOf(order[heldAt]!) + 1).includes(`PUT ${path} 201`),
      (repaired) => repaired,
      { timeoutMs: 60_000, what: 'the queue declared again after the late DELETE' },
    );
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/late`)).status).toBe(200);
    expect(isReadyNow(await ctx.get('rabbitqueues', 'late'))).toBe(true);
    // B wrote it: A had stopped writing before B led.
    expect(await exitOf(a, 40_000)).toBe(1);
    const leads = lineOf(b, 'became leader')!;
    expect(Math.max(...writesOf(a).map((w) => w.time))).toBeLessThan(leads.time);
  }, 300_000);

  it('the leader killed with SIGKILL in the middle of 500 creates: the standby converges all of them', async () => {
    // Start from two fresh replicas; the previous test's survivor hands the lease back on SIGTERM.
    for (const r of replicas.splice(0)) await r.proc.stop();
    const k1 = await startReplica('kill-a', ctx.env.kubeconfigPath);
    await eventually(leaseHolder, (h) => h === k1.name, { timeoutMs: 30_000, what: 'kill-a leads' });
    const k2 = await startReplica('kill-b', ctx.env.kubeconfigPath);
    await eventually(
      () => readyz(k2),
      (s) => s === 200,
      { timeoutMs: 30_000, what: 'kill-b ready' },
    );

    const names = Array.from({ length: 500 }, (_, i) => `burst-${i}`);
    const creating = createQueues(names);
    await eventually(
      async () => queueWrites(k1),
      (n) => n >= 50,
      { timeoutMs: 120_000, what: 'kill-a declaring queues' },
    );
    k1.proc.child.kill('SIGKILL');
    const readyAtKill = (await readyQueues('burst-')).size;
    expect(readyAtKill).toBeLessThan(names.length); // killed in the middle of the burst
    expect(await exitOf(k1, 10_000)).toBeNull(); // killed by the signal, no exit code
    await creating;

    await eventually(leaseHolder, (h) => h === k2.name, { timeoutMs: 30_000, what: 'kill-b leads' });
    const ready = await eventually(
      () => readyQueues('burst-'),
      (s) => s.size === names.length,
      { timeoutMs: 300_000, intervalMs: 2000, what: 'all 500 queues Ready' },
    );
    expect(ready.size).toBe(names.length);
    const inBroker = await eventually(brokerQueues, (s) => names.every((n) => s.has(n)), {
      timeoutMs: 30_000,
      what: 'all 500 queues in the broker',
    });
    expect(names.filter((n) => !inBroker.has(n))).toEqual([]);
    // The standby did the rest: it wrote, and only after it led.
    const leads = lineOf(k2, 'became leader');
    expect(leads).toBeDefined();
    const k2Writes = writesOf(k2);
    expect(k2Writes.length).toBeGreaterThan(0);
    expect(Math.min(...k2Writes.map((w) => w.time))).toBeGreaterThanOrEqual(leads!.time);
  }, 480_000);
});
