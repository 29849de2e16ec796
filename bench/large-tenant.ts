// npm run bench -- --large-tenant [N] | --fat [K] (issue #25, "One tenant stalls everything"): one
// tenant with many objects, or with fat ones, and whether another tenant still gets its queue.
//
// `--large-tenant N` (default 50,000): with no operator running, N RabbitQueues are created in the
// namespace `big` (PARALLEL in flight, through a lean keep-alive client; creation stops at
// --create-minutes, default 20, and the run goes on with what was created). `--fat K` (default
// 1,000): K RabbitQueues in the namespace `fat`, each with an annotation of --fat-bytes (default
// 100 KiB), kubectl's last-applied-configuration unless --fat-annotation names another. Each
// namespace has its own RabbitBroker `local` (an admin Secret and the broker's URL, as
// test/support/operator.ts createBroker does; the default survey interval) and its own vhost,
// declared in the broker.
//
// Then the operator starts as its own process, as the image runs it (`node dist/main.js`, the
// Dockerfile's flags and environment, all namespaces watched unless --namespaced): the time from
// its start until /readyz answers 200 (its caches synced), its peak RSS (VmHWM) then and over the
// run, its CPU seconds. Once the big tenant's queues are being reconciled (PROBE_AFTER of them
// Ready), one RabbitQueue is created in the namespace `small`: the time until it is Ready (Ready=True
// at its generation) and until the broker has it, and how many of the big tenant's were Ready then.
// The big tenant is then waited for, at most --converge-minutes (default 15) from the operator's
// start; then a second small queue measures the same latency once the big tenant converged, or late
// in its run if it did not.
// Ready objects are counted from one watch of the big namespace (no polling lists).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GROUP, VERSION } from '../src/api/common.ts';
import { apiStatus, corePath, customPath, Kube } from '../src/runtime/kube.ts';
import { KubeConfig } from '../src/runtime/kubeconfig.ts';
import { startEnvironment, REPO } from '../test/support/environment.ts';
import { enc, mgmt, type Mgmt } from '../test/support/management.ts';
import { freePort } from '../test/support/ports.ts';
import { buildDist, imageEnv, imageNodeArgs } from './image-env.ts';
import { cpuSample, cpuSeconds, cpuSpent, memory, pool, type CpuSample } from './measure.ts';

const argv = process.argv;
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i > 0 && argv[i + 1] && !argv[i + 1]!.startsWith('--') ? argv[i + 1]! : dflt;
};
const num = (name: string, dflt: number) => {
  const n = Number(opt(name, String(dflt)));
  if (!(n > 0)) throw new Error(`--${name}: expected a positive number`);
  return n;
};
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const FAT = argv.includes('--fat');
const N = FAT ? num('fat', 1000) : num('large-tenant', 50_000);
const BIG = FAT ? 'fat' : 'big';
const SMALL = 'small';
const PARALLEL = num('parallel', 32);
const CREATE_BUDGET_MS = num('create-minutes', 20) * 60_000;
const CONVERGE_BUDGET_MS = num('converge-minutes', 15) * 60_000;
const PROBE_BUDGET_MS = 5 * 60_000;
const FAT_BYTES = num('fat-bytes', 100 * 1024);
const FAT_ANNOTATION = opt('fat-annotation', LAST_APPLIED);
// The small tenant's queue is created once this many of the big tenant's are Ready (at most 2 min
// after the operator is ready): it then competes with a reconcile pipeline in full flow.
const PROBE_AFTER = Math.max(1, Math.min(500, Math.floor(N / 20)));
const OPERATOR_LOG = opt('operator-log', '');
const NAMESPACED = argv.includes('--namespaced');

const queue = (ns: string, name: string) => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: 'RabbitQueue',
  metadata: { name, namespace: ns } as { name: string; namespace: string; annotations?: object },
  spec: { brokerRef: { name: 'local' }, vhost: ns },
});

/** A queue of the fat tenant: its manifest, padded to FAT_BYTES, in an annotation (as kubectl apply keeps it). */
function fatQueue(name: string) {
  const q = queue(BIG, name);
  const manifest = (pad: string) =>
    JSON.stringify({ ...q, spec: { ...q.spec, arguments: { 'x-pad': pad } } });
  const text = manifest('x'.repeat(Math.max(0, FAT_BYTES - manifest('').length)));
  q.metadata.annotations = { [FAT_ANNOTATION]: text };
  return q;
}

/** Ready=True at the object's generation (the condition's observedGeneration, else the status's). */
function isReady(o: any): boolean {
  const c = o?.status?.conditions?.find((c: any) => c.type === 'Ready');
  return (
    c?.status === 'True' && (c.observedGeneration ?? o.status?.observedGeneration) === o.metadata?.generation
  );
}

/** The Ready RabbitQueues of one namespace, from a watch that resumes where it ended (and lists again on 410). */
class ReadyWatch {
  readonly ready = new Set<string>();
  restarts = 0;
  private rv = '';
  private stopped = false;
  private abort?: AbortController;
  private loop?: Promise<void>;
  private readonly path: string;
  private readonly kube: Kube;
  constructor(kube: Kube, ns: string) {
    this.kube = kube;
    this.path = customPath('rabbitqueues', ns);
  }

  /** From now: none is Ready yet (no operator ran), so one item's list gives the resourceVersion. */
  async start(): Promise<void> {
    this.rv = (await this.kube.list(this.path, { limit: 1 })).metadata?.resourceVersion ?? '';
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.loop;
  }

  private async relist(): Promise<void> {
    const l = await this.kube.listPaged(this.path, { pageTimeoutMs: 60_000 });
    this.ready.clear();
    for (const o of l.items) if (isReady(o)) this.ready.add(o.metadata.name);
    this.rv = l.metadata?.resourceVersion ?? '';
  }

  private once(): Promise<unknown> {
    return new Promise((resolve) => {
      void this.kube.client
        .watch(
          this.path,
          { resourceVersion: this.rv, allowWatchBookmarks: true },
          (type, o) => {
            if (type === 'ERROR') {
              if (o?.code === 410) this.rv = '';
              return;
            }
            if (o?.metadata?.resourceVersion) this.rv = o.metadata.resourceVersion;
            if (type === 'BOOKMARK') return;
            if (type !== 'DELETED' && isReady(o)) this.ready.add(o.metadata.name);
            else this.ready.delete(o.metadata.name);
          },
          resolve,
          { serverTimeoutSeconds: 300 },
        )
        .then((a) => (this.abort = a));
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped && this.restarts < 1000) {
      const err = await this.once();
      if (this.stopped) return;
      this.restarts++;
      if (err) await sleep(1000);
      if (!this.rv) await this.relist().catch((e) => console.error(`bench: relist failed: ${String(e)}`));
    }
  }
}

/** A create, tried again (at most 4 times) on errors a loaded API server gives; an AlreadyExists counts. */
async function create(kube: Kube, path: string, body: unknown): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await kube.create(path, body);
      return;
    } catch (err) {
      if (apiStatus(err)?.code === 409) return;
      if (attempt >= 4) throw err;
      await sleep(500 * 2 ** attempt);
    }
  }
}

/** A namespace with an admin Secret, its vhost in the broker and a RabbitBroker `local` using both. */
async function tenant(
  kube: Kube,
  admin: Mgmt,
  ns: string,
  env: Awaited<ReturnType<typeof startEnvironment>>,
) {
  await kube.create(corePath('namespaces'), { metadata: { name: ns } });
  const status = await admin.put(`/vhosts/${enc(ns)}`, { description: `bench tenant ${ns}` });
  if (status >= 300) throw new Error(`vhost ${ns}: ${status}`);
  await kube.create(corePath('secrets', ns), {
    metadata: { name: 'local-admin' },
    stringData: { username: env.broker.username, password: env.broker.password },
  });
  await kube.create(customPath('rabbitbrokers', ns), {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'RabbitBroker',
    metadata: { name: 'local' },
    spec: { endpoint: env.broker.managementUrl, credentialsSecretRef: { name: 'local-admin' } },
  });
}

/** The number of queues of a vhost in the broker. */
async function brokerQueues(admin: Mgmt, vhost: string): Promise<number> {
  const r = await admin.get(`/queues/${enc(vhost)}?page=1&page_size=1&columns=name`);
  return Number(r.body?.filtered_count ?? r.body?.total_count ?? NaN);
}

/** A counter or gauge from the operator's /metrics, summed over its series (0 when absent). */
async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
const results: Record<string, unknown> = {
  case: FAT ? `fat ${N} x ${FAT_BYTES} B (${FAT_ANNOTATION})` : `large tenant ${N}`,
  commit: git('rev-parse', '--short', 'HEAD'),
  // Others may edit src/ in the same checkout: what dist/ was built from beyond the commit.
  srcUncommitted: git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean),
  requested: N,
  parallel: PARALLEL,
  watch: NAMESPACED ? `${BIG},${SMALL}` : 'all namespaces',
};
const cpuByPhase: Record<string, ReturnType<typeof cpuSpent> & { wall: number }> = {};
const labels: Record<number, string> = { [process.pid]: 'bench' };
const sample = () => cpuSample(labels);
const phase = (name: string, wall: number, from: CpuSample) =>
  (cpuByPhase[name] = { wall: Math.round(wall * 10) / 10, ...cpuSpent(from, sample()) });
const s = (ms: number) => Math.round(ms / 100) / 10;

buildDist();
const IMAGE_ENV = imageEnv();
const dir = mkdtempSync(join(tmpdir(), 'warren-large-tenant-'));
const env = await startEnvironment(dir);
let proc: ChildProcess | undefined;
let watch: ReadyWatch | undefined;
const killOperator = () => proc?.kill('SIGKILL');
process.once('exit', killOperator);
try {
  const kube = new Kube(KubeConfig.fromFile(env.controlPlane.kubeconfigPath));
  const admin = mgmt(env.broker.managementUrl, env.broker.username, env.broker.password);
  results.kubernetes = env.controlPlane.version;
  results.rabbitmq = env.broker.version;
  await tenant(kube, admin, BIG, env);
  await tenant(kube, admin, SMALL, env);

  // 1. The big tenant's queues, with no operator running.
  const names = Array.from({ length: N }, (_, i) => `q-${String(i).padStart(5, '0')}`);
  let created = 0;
  let failed = 0;
  let c = sample();
  const t0 = Date.now();
  const deadline = t0 + CREATE_BUDGET_MS;
  const progress = setInterval(
    () => console.error(`bench: ${created}/${N} created in ${s(Date.now() - t0)} s`),
    15_000,
  );
  try {
    await pool(names, PARALLEL, async (name) => {
      if (Date.now() > deadline) return;
      try {
        await create(kube, customPath('rabbitqueues', BIG), FAT ? fatQueue(name) : queue(BIG, name));
        created++;
      } catch (err) {
        if (++failed <= 5) console.error(`bench: create ${name} failed: ${String(err)}`);
      }
    });
  } finally {
    clearInterval(progress);
  }
  const createMs = Date.now() - t0;
  phase('create', createMs / 1000, c);
  Object.assign(results, {
    created,
    createFailed: failed,
    createStoppedAtBudget: created + failed < N,
    createSeconds: s(createMs),
    createPerSecond: Math.round(created / (createMs / 1000)),
  });
  console.error(`bench: ${created} created (${failed} failed) in ${s(createMs)} s`);

  watch = new ReadyWatch(kube, BIG);
  await watch.start();

  // 2. The operator, as the image runs it.
  const port = await freePort();
  c = sample();
  const start = Date.now();
  proc = spawn(process.execPath, [...imageNodeArgs(), join(REPO, 'dist', 'main.js')], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: env.controlPlane.kubeconfigPath,
      ...(NAMESPACED ? { WATCH_NAMESPACE: `${BIG},${SMALL}` } : {}),
      LEADER_ELECTION: 'false',
      HEALTH_PORT: String(port),
      HEALTH_HOST: '127.0.0.1',
      LOG_LEVEL: process.env.WARREN_BENCH_LOG_LEVEL ?? 'warn',
      ...IMAGE_ENV,
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('WARREN_'))),
    },
    stdio: ['ignore', OPERATOR_LOG ? openSync(OPERATOR_LOG, 'a') : 'ignore', 'inherit'],
  });
  const pid = proc.pid!;
  labels[pid] = 'warren';
  const exited = new Promise((r) => proc!.once('exit', r));
  let peakRss = 0;
  const rssTimer = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, memory(pid).rss);
    } catch {
      // it ended
    }
  }, 500);
  try {
    const readyBy = start + 10 * 60_000;
    while (
      (await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      )) !== 200
    ) {
      if (proc.exitCode !== null)
        throw new Error(`the operator exited (${proc.exitCode}) before it was ready`);
      if (Date.now() > readyBy) throw new Error('the operator was not ready within 10 minutes');
      await sleep(100);
    }
    const syncMs = Date.now() - start;
    phase('operator start to /readyz', syncMs / 1000, c);
    const atSync = memory(pid);
    Object.assign(results, {
      syncSeconds: s(syncMs),
      syncCpuSeconds: cpuSeconds(pid),
      peakRssAtSyncMb: Math.round(atSync.hwm),
      rssAtSyncMb: Math.round(atSync.rss),
    });
    console.error(`bench: operator ready after ${s(syncMs)} s, peak RSS ${Math.round(atSync.hwm)} MB`);

    // 3. The small tenant's queue while the big tenant's are reconciled.
    c = sample();
    const reconcileStart = Date.now();
    const flowing = Date.now() + 120_000;
    while (watch.ready.size < PROBE_AFTER && Date.now() < flowing) await sleep(100);
    const probe = async (name: string) => {
      const bigReadyAtCreate = watch!.ready.size;
      const t = Date.now();
      await create(kube, customPath('rabbitqueues', SMALL), queue(SMALL, name));
      let readyMs: number | undefined;
      let brokerMs: number | undefined;
      let bigReadyAtReady: number | undefined;
      while ((readyMs === undefined || brokerMs === undefined) && Date.now() - t < PROBE_BUDGET_MS) {
        if (readyMs === undefined && isReady(await kube.get(customPath('rabbitqueues', SMALL, name)))) {
          readyMs = Date.now() - t;
          bigReadyAtReady = watch!.ready.size;
        }
        if (brokerMs === undefined && (await admin.get(`/queues/${SMALL}/${enc(name)}`)).status === 200)
          brokerMs = Date.now() - t;
        await sleep(100);
      }
      const r = {
        afterSyncSeconds: s(t - start - syncMs),
        bigReadyAtCreate,
        bigNotReadyAtCreate: created - bigReadyAtCreate,
        readySeconds: readyMs === undefined ? `not Ready in ${PROBE_BUDGET_MS / 1000} s` : readyMs / 1000,
        inBrokerSeconds:
          brokerMs === undefined ? `not in the broker in ${PROBE_BUDGET_MS / 1000} s` : brokerMs / 1000,
        bigReadyAtReady: bigReadyAtReady ?? watch!.ready.size,
      };
      console.error(`bench: probe ${name}: ${JSON.stringify(r)}`);
      return r;
    };
    results.probe = await probe('probe-busy');

    // The big tenant, until it converged or the budget ended.
    const convergeBy = start + CONVERGE_BUDGET_MS;
    const readyAt: Array<{ afterStartSeconds: number; ready: number; rssMb: number }> = [];
    let next = Date.now();
    while (watch.ready.size < created && Date.now() < convergeBy) {
      if (proc.exitCode !== null) throw new Error(`the operator exited (${proc.exitCode})`);
      if (Date.now() >= next) {
        readyAt.push({
          afterStartSeconds: s(Date.now() - start),
          ready: watch.ready.size,
          rssMb: Math.round(memory(pid).rss),
        });
        console.error(`bench: ${JSON.stringify(readyAt.at(-1))}`);
        next += 60_000;
      }
      await sleep(250);
    }
    const converged = watch.ready.size >= created;
    const reconcileMs = Date.now() - reconcileStart;
    phase(converged ? 'reconcile until all Ready' : 'reconcile until the budget', reconcileMs / 1000, c);
    Object.assign(results, {
      converged,
      allReadySecondsFromStart: converged ? s(Date.now() - start) : undefined,
      readyAtEnd: watch.ready.size,
      endSecondsFromStart: s(Date.now() - start),
      reconcilesPerSecond: Math.round(watch.ready.size / (reconcileMs / 1000)),
      readyAt,
      inBroker: await brokerQueues(admin, BIG),
      reconcileErrors: await metric(port, 'controller_runtime_reconcile_errors_total'),
      watchRestarts: watch.restarts,
    });
    // Again: once the big tenant converged, or late in its run if it did not.
    if (converged) results.probeIdle = await probe('probe-idle');
    else results.probeLate = await probe('probe-late');
    const end = memory(pid);
    Object.assign(results, {
      cpuSeconds: cpuSeconds(pid),
      peakRssMb: Math.round(end.hwm),
      sampledPeakRssMb: Math.round(peakRss),
      rssAtEndMb: Math.round(end.rss),
    });
  } finally {
    clearInterval(rssTimer);
    proc.kill('SIGTERM');
    // Node can deadlock inside process.exit (nodejs/node#54918): killed after 30 s, as a pod would be.
    const timer = setTimeout(() => {
      console.error('bench: the operator did not exit within 30 s of SIGTERM; killing it');
      proc!.kill('SIGKILL');
    }, 30_000);
    if (proc.exitCode === null && proc.signalCode === null) await exited;
    clearTimeout(timer);
  }
} finally {
  await watch?.stop();
  process.off('exit', killOperator);
  await env.stop();
  rmSync(dir, { recursive: true, force: true });
}

console.error(JSON.stringify({ ...results, cpuByPhase }, null, 2));
const r = results as any;
const probeCell = (p: any, key: string) =>
  p ? (typeof p[key] === 'number' ? p[key].toFixed(1) : p[key]) : 'n/a';
const rows: Array<[string, unknown]> = [
  [
    'objects created (requested)',
    `${r.created} (${r.requested})${r.createStoppedAtBudget ? ', stopped at the time budget' : ''}`,
  ],
  [`create time, ${PARALLEL} in flight, no operator`, `${r.createSeconds} s (${r.createPerSecond}/s)`],
  ['operator start to /readyz (caches synced)', `${r.syncSeconds} s`],
  ['CPU until synced', `${r.syncCpuSeconds.toFixed(1)} s`],
  ['peak RSS (VmHWM) at sync', `${r.peakRssAtSyncMb} MB`],
  ['peak RSS (VmHWM) over the run', `${r.peakRssMb} MB`],
  ['CPU over the run', `${r.cpuSeconds.toFixed(1)} s`],
  [
    `${BIG} Ready / not Ready when the ${SMALL} queue was created`,
    `${r.probe.bigReadyAtCreate} / ${r.probe.bigNotReadyAtCreate} (${r.probe.afterSyncSeconds} s after sync)`,
  ],
  [`${SMALL} queue: create to Ready`, `${probeCell(r.probe, 'readySeconds')} s`],
  [`${SMALL} queue: create to in the broker`, `${probeCell(r.probe, 'inBrokerSeconds')} s`],
  [`${BIG} Ready when the ${SMALL} queue was Ready`, r.probe.bigReadyAtReady],
  [
    `${BIG}: all Ready`,
    r.converged
      ? `after ${r.allReadySecondsFromStart} s from operator start`
      : `no: ${r.readyAtEnd} of ${r.created} after ${r.endSecondsFromStart} s`,
  ],
  [`${BIG} queues in the broker at the end`, r.inBroker],
  [`${SMALL} queue after ${BIG} converged: create to Ready`, `${probeCell(r.probeIdle, 'readySeconds')} s`],
  [
    `${SMALL} queue at the end of the budget, ${BIG} not converged: create to Ready (${BIG} not Ready then)`,
    r.probeLate ? `${probeCell(r.probeLate, 'readySeconds')} s (${r.probeLate.bigNotReadyAtCreate})` : 'n/a',
  ],
];
console.log(`\n| ${r.case} | |\n|---|---|`);
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
const procs = ['kube-apiserver', 'etcd', 'beam.smp', 'warren', 'bench'];
console.log(`\n| phase | wall s | cores busy % | ${procs.join(' s | ')} s | others s |`);
console.log(`|${'---|'.repeat(procs.length + 4)}`);
for (const [name, p] of Object.entries(cpuByPhase)) {
  const others = Object.entries(p.seconds)
    .filter(([k]) => !procs.includes(k))
    .reduce((a, [, v]) => a + v, 0);
  console.log(
    `| ${name} | ${p.wall} | ${Math.round(p.busy * 100)} | ${procs.map((k) => (p.seconds[k] ?? 0).toFixed(1)).join(' | ')} | ${others.toFixed(1)} |`,
  );
}
