// npm run bench [-- --scenarios queues:1000,queues:10000,mixed:1,mixed:2,mixed:4]: warren's throughput,
// CPU, memory and requests per object against the floors a run measures itself, on a real control
// plane and broker (loopback only). The operator runs as its own process, as the image runs it
// (`node dist/main.js` with the Dockerfile's NODE_OPTIONS); its CPU and RSS are read from /proc, its
// requests from its /metrics, each survey's CPU from the RabbitBroker's status.
//
// Floors, for the same objects: the API server accepting them at the same parallelism (no operator
// watching); the API server taking, from a plain client, the three writes per object warren makes
// (create, finalizer, status); and the broker taking the same declarations from a plain client at
// warren's request concurrency (maxConcurrentRequests). warren's time is from the first create to
// the last Ready.
//
// A second table says, for each timed phase, how busy the machine's cores were and what each
// process (the API server, etcd, the broker, warren, the bench) spent: whether a run is bound by the
// machine's CPU, and by whose.
import * as k8s from '@kubernetes/client-node';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { finalizerOf, GROUP, VERSION } from '../src/api/common.ts';
import { hashPassword, ManagementClient } from '../src/rabbitmq/index.ts';
import { corePath, customPath, Kube } from '../src/runtime/kube.ts';
import { KubeConfig } from '../src/runtime/kubeconfig.ts';
import { buildDist, imageEnv, imageNodeArgs } from './image-env.ts';
import {
  apiServerProfile,
  cpuSample,
  cpuSeconds,
  cpuSpent,
  memory,
  pool,
  threadCpu,
  type CpuSample,
} from './measure.ts';
import { startEnvironment, REPO, type Environment } from '../test/support/environment.ts';
import { freePort } from '../test/support/ports.ts';

const argv = process.argv;
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i > 0 ? argv[i + 1]! : dflt;
};
const SCENARIOS = opt('scenarios', 'queues:1000,queues:10000,mixed:1,mixed:2,mixed:4').split(',');
const PARALLEL = 16; // creates in flight, for the API server floor and for warren alike
const BROKER_CONCURRENCY = 8; // RabbitBroker maxConcurrentRequests (its default)
const SURVEY = '30s';
// --finalizer-policy: deploy/optional/finalizer-policy.yaml is applied after the create-only floor
// (which stays the plain API server's) and removed after the scenario: the API server then gives
// each new object warren's finalizer, and both warren and the writes floor skip that write.
const POLICY = argv.includes('--finalizer-policy');
const NO_FLOORS = argv.includes('--no-floors');
// --operator-log FILE: the operator's stdout (its log, and what --node-args "--trace-gc" prints).
const OPERATOR_LOG = opt('operator-log', '');
// --idle-surveys N: idle surveys measured after convergence (the table shows their median).
const IDLE_SURVEYS = Math.max(1, Number(opt('idle-surveys', '3')));
// --apiserver-pprof DIR: a CPU profile of the API server over the first 20 s of the writes floor
// and of warren's run (what warren's run costs it beyond the same writes from a plain client); a
// phase shorter than that has what follows it in its profile.
const APISERVER_PPROF = opt('apiserver-pprof', '');
// The operator runs as the image runs it: the compiled JavaScript, with the image's NODE_OPTIONS.
buildDist();
const IMAGE_ENV = imageEnv();

interface Obj {
  plural: string;
  kind: string;
  name: string;
  spec: Record<string, unknown>;
}
interface Workload {
  label: string;
  vhosts: string[];
  secrets: Array<{ name: string; password: string }>;
  objects: Obj[];
  /** The same declarations, for the broker floor, in phases (what the next phase needs comes first). */
  declare: Array<Array<(c: ManagementClient) => Promise<unknown>>>;
}

const b = { name: 'local' };
function queues(n: number, tag: string): Workload {
  const vhost = `bench-${tag}`;
  const objects: Obj[] = [];
  const declare: Workload['declare'] = [[]];
  for (let i = 0; i < n; i++) {
    const name = `q-${String(i).padStart(5, '0')}`;
    objects.push({ plural: 'rabbitqueues', kind: 'RabbitQueue', name, spec: { brokerRef: b, vhost } });
    declare[0]!.push((c) => c.putQueue(vhost, name, { durable: true, auto_delete: false, arguments: {} }));
  }
  return { label: `${n} queues`, vhosts: [vhost], secrets: [], objects, declare };
}

/** 10 vhosts, 1,000 queues, 200 users with passwords, 200 permissions, 100 exchanges, 1,000 bindings; times k. */
function mixed(k: number, tag: string): Workload {
  const w: Workload = { label: `mixed x${k}`, vhosts: [], secrets: [], objects: [], declare: [[], [], []] };
  const [first, second, third] = w.declare as [
    Workload['declare'][number],
    Workload['declare'][number],
    Workload['declare'][number],
  ];
  const V = 10 * k;
  for (let v = 0; v < V; v++) {
    const vhost = `${tag}-v${v}`;
    w.objects.push({
      plural: 'rabbitvhosts',
      kind: 'RabbitVhost',
      name: `v${v}`,
      spec: { brokerRef: b, name: vhost },
    });
    first.push((c) => c.putVhost(vhost, { description: '', tags: [] }));
  }
  const vh = (i: number) => `${tag}-v${i % V}`;
  for (let i = 0; i < 1000 * k; i++) {
    const name = `q-${i}`;
    w.objects.push({
      plural: 'rabbitqueues',
      kind: 'RabbitQueue',
      name,
      spec: { brokerRef: b, vhost: vh(i), name },
    });
    second.push((c) => c.putQueue(vh(i), name, { durable: true, auto_delete: false, arguments: {} }));
  }
  for (let i = 0; i < 100 * k; i++) {
    const name = `x-${i}`;
    w.objects.push({
      plural: 'rabbitexchanges',
      kind: 'RabbitExchange',
      name,
      spec: { brokerRef: b, vhost: vh(i), name, type: 'topic' },
    });
    second.push((c) =>
      c.putExchange(vh(i), name, {
        type: 'topic',
        durable: true,
        auto_delete: false,
        internal: false,
        arguments: {},
      }),
    );
  }
  for (let i = 0; i < 1000 * k; i++) {
    // Queue i lives in vhost i % V; exchange i % (100k) too when (i % 100k) % V === i % V: pick one that does.
    const x = `x-${i % (100 * k)}`;
    const vhost = vh(i % (100 * k));
    const q = `q-${i % (100 * k)}`;
    const spec = { brokerRef: b, vhost, source: x, destination: q, routingKey: `k.${i}` };
    w.objects.push({ plural: 'rabbitbindings', kind: 'RabbitBinding', name: `b-${i}`, spec });
    third.push((c) =>
      c.postBinding(vhost, {
        source: x,
        destination: q,
        destination_type: 'queue',
        routing_key: `k.${i}`,
        arguments: {},
      }),
    );
  }
  for (let i = 0; i < 200 * k; i++) {
    const user = `${tag}-u${i}`;
    const password = `pw-${i}-${tag}`;
    w.secrets.push({ name: `u${i}-pw`, password });
    w.objects.push({
      plural: 'rabbitusers',
      kind: 'RabbitUser',
      name: `u${i}`,
      spec: { brokerRef: b, username: user, credentialsSecretRef: { name: `u${i}-pw` } },
    });
    second.push((c) =>
      c.putUser(user, {
        password_hash: hashPassword(password, 'rabbit_password_hashing_sha256'),
        hashing_algorithm: 'rabbit_password_hashing_sha256',
        tags: [],
      }),
    );
    w.objects.push({
      plural: 'rabbitpermissions',
      kind: 'RabbitPermission',
      name: `p${i}`,
      spec: { brokerRef: b, vhost: vh(i), user, configure: '.*', write: '.*', read: '.*' },
    });
    third.push((c) => c.putPermission(vh(i), user, { configure: '.*', write: '.*', read: '.*' }));
  }
  w.vhosts = Array.from({ length: V }, (_, v) => `${tag}-v${v}`);
  return w;
}

/** Counters from the operator's /metrics, summed per label value of `label`. */
async function counters(port: number, metric: string, label: string): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const m = new RegExp(`${label}="([^"]*)"`).exec(line);
    if (m) out[m[1]!] = (out[m[1]!] ?? 0) + value;
  }
  return out;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, n) => a + n, 0);
const diff = (a: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (before[k] ?? 0)]));

async function scenario(env: Environment, kc: k8s.KubeConfig, spec: string, index: number) {
  const [what, nText] = spec.split(':') as [string, string];
  const n = Number(nText);
  const tag = `s${index}`;
  const w = what === 'queues' ? queues(n, tag) : mixed(n, tag);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const client = new ManagementClient({
    endpoint: env.broker.managementUrl,
    username: env.broker.username,
    password: env.broker.password,
    maxConcurrentRequests: BROKER_CONCURRENCY,
    timeoutMs: 120_000,
  });
  // Objects and Secrets are created through a lean keep-alive client (warren's own, as kubectl and
  // client-go are lean): client-node's generated API cost 2.7 ms of client CPU and 3.5 ms of API
  // server CPU per create against 0.35 and 1.3 (`npm run bench -- --write-cost 10000`), so the
  // floors measured client-node rather than the API server, and loaded the machine warren shares.
  const lean = new Kube(KubeConfig.fromFile(env.controlPlane.kubeconfigPath));
  const create = (ns: string) => (o: Obj) =>
    lean.create(customPath(o.plural, ns), {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: o.kind,
      metadata: { name: o.name },
      spec: o.spec,
    });
  const secret = (ns: string) => (s: { name: string; password: string }) =>
    lean.create(corePath('secrets', ns), {
      metadata: { name: s.name },
      stringData: { password: s.password },
    });

  // --no-floors (for profiling warren): the floors are left out and reported as NaN.
  let apiFloor = NaN;
  let apiWritesFloor = NaN;
  let brokerFloor = NaN;
  // Where the machine's CPU went in each timed phase (is it CPU-bound, and on whom?). Both ends of
  // a phase name the processes alike (the operator once it runs).
  const cpuByPhase: Record<string, ReturnType<typeof cpuSpent> & { wall: number }> = {};
  const labels: Record<number, string> = { [process.pid]: 'bench' };
  const sample = () => cpuSample(labels);
  const phase = (name: string, wall: number, from: CpuSample) =>
    (cpuByPhase[name] = { wall, ...cpuSpent(from, sample()) });
  const profiles: Promise<unknown>[] = [];
  const profileApiServer = async (name: string) => {
    if (!APISERVER_PPROF) return;
    await Promise.all(profiles); // the API server takes one CPU profile at a time
    const kubectl = join(env.controlPlane.binDir, 'kubectl');
    const file = join(APISERVER_PPROF, `${tag}-${name}.pprof`);
    profiles.push(apiServerProfile(kubectl, env.controlPlane.kubeconfigPath, file, 20));
  };
  if (NO_FLOORS) {
    if (POLICY) await finalizerPolicy(env, kc, 'apply', `${tag}-policy`);
  } else {
    // Floor 1: the API server alone accepts the objects.
    const floorNs = `${tag}-floor`;
    await core.createNamespace({ body: { metadata: { name: floorNs } } });
    await pool(w.secrets, PARALLEL, secret(floorNs));
    let c = sample();
    let t = Date.now();
    await pool(w.objects, PARALLEL, create(floorNs));
    apiFloor = (Date.now() - t) / 1000;
    phase('API floor', apiFloor, c);
    if (POLICY) await finalizerPolicy(env, kc, 'apply', `${tag}-policy`);

    // Floor 1b: the API server alone takes the writes the issue allows warren per object (create,
    // one finalizer write, one status write), each object's writes in order, at the same parallelism.
    const writesNs = `${tag}-writes`;
    await core.createNamespace({ body: { metadata: { name: writesNs } } });
    await pool(w.secrets, PARALLEL, secret(writesNs));
    const kube = lean;
    await profileApiServer('writes-floor');
    c = sample();
    t = Date.now();
    await pool(w.objects, PARALLEL, async (o) => {
      const made = (await create(writesNs)(o)) as {
        metadata: { resourceVersion: string; finalizers?: string[] };
      };
      const ref = { plural: o.plural, namespace: writesNs, name: o.name };
      if (!made.metadata.finalizers?.length)
        await kube.jsonPatch(ref, [
          { op: 'test', path: '/metadata/resourceVersion', value: made.metadata.resourceVersion },
          { op: 'add', path: '/metadata/finalizers', value: [finalizerOf(o.plural)] },
        ]);
      await kube.patchStatus(ref, {
        observedGeneration: 1,
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Reconciled',
            message: 'applied to the broker',
            observedGeneration: 1,
            lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          },
        ],
      });
    });
    apiWritesFloor = (Date.now() - t) / 1000;
    phase('writes floor', apiWritesFloor, c);
    // Its finalizers would hold the namespace's deletion: clear them (not timed).
    await pool(w.objects, PARALLEL, (o) =>
      kube.jsonPatch({ plural: o.plural, namespace: writesNs, name: o.name }, [
        { op: 'remove', path: '/metadata/finalizers' },
      ]),
    );

    // Floor 2: the broker alone takes the declarations, in phases (vhosts; queues, exchanges, users;
    // bindings, permissions).
    if (what === 'queues') await client.putVhost(w.vhosts[0]!, { description: '', tags: [] });
    c = sample();
    t = Date.now();
    for (const step of w.declare) await pool(step, BROKER_CONCURRENCY, (d) => d(client));
    brokerFloor = (Date.now() - t) / 1000;
    phase('broker floor', brokerFloor, c);
    // Clear the broker so warren starts from nothing.
    for (const v of w.vhosts) await client.deleteVhost(v);
    for (const s of w.objects.filter((o) => o.plural === 'rabbitusers'))
      await client.deleteUser(String(s.spec.username));
  }

  // warren.
  const ns = `${tag}-warren`;
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'admin' },
      stringData: { username: env.broker.username, password: env.broker.password },
    },
  });
  await pool(w.secrets, PARALLEL, secret(ns));
  await create(ns)({
    plural: 'rabbitbrokers',
    kind: 'RabbitBroker',
    name: 'local',
    spec: {
      endpoint: env.broker.managementUrl,
      credentialsSecretRef: { name: 'admin' },
      surveyInterval: SURVEY,
    },
  });
  const port = await freePort();
  // --node-args "--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the operator.
  const nodeArgs = [...imageNodeArgs(), ...opt('node-args', '').split(' ').filter(Boolean)];
  const proc: ChildProcess = spawn(process.execPath, [...nodeArgs, join(REPO, 'dist', 'main.js')], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: env.controlPlane.kubeconfigPath,
      WATCH_NAMESPACE: ns,
      LEADER_ELECTION: 'false',
      HEALTH_PORT: String(port),
      HEALTH_HOST: '127.0.0.1',
      // WARREN_BENCH_LOG_LEVEL=debug with --operator-log FILE, e.g. to see why surveys work again.
      LOG_LEVEL: process.env.WARREN_BENCH_LOG_LEVEL ?? 'warn',
      ...IMAGE_ENV,
      // Settings under test can be passed through (the defaults are what is measured otherwise).
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('WARREN_'))),
    },
    stdio: ['ignore', OPERATOR_LOG ? openSync(OPERATOR_LOG, 'a') : 'ignore', 'inherit'],
  });
  const pid = proc.pid!;
  labels[pid] = 'warren';
  try {
    const deadline = Date.now() + 120_000;
    while (
      (await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      )) !== 200
    ) {
      if (Date.now() > deadline) throw new Error('operator not ready');
      await sleep(200);
    }
    // The queues' vhost is declared too (as users do), and surveyed once before the clock starts.
    const statusOf = async (plural: string, name: string) =>
      (
        (await custom.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural,
          name,
        })) as any
      ).status;
    const brokerStatus = () => statusOf('rabbitbrokers', 'local');
    const lastSurvey = async () => (await brokerStatus())?.lastSurveyTime as string | undefined;
    if (what === 'queues') {
      await create(ns)({
        plural: 'rabbitvhosts',
        kind: 'RabbitVhost',
        name: 'vh',
        spec: { brokerRef: b, name: w.vhosts[0] },
      });
      // A survey that started once the vhost existed in the broker: the vhost Ready, then two
      // surveys ending (the second started after the first ended). New queues in a vhost the last
      // survey read are declared without a read first.
      const vhostReady = async () =>
        (await statusOf('rabbitvhosts', 'vh'))?.conditions?.some(
          (c: any) => c.type === 'Ready' && c.status === 'True',
        );
      while (!(await vhostReady())) await sleep(500);
      for (let k = 0; k < 2; k++) {
        const before = await lastSurvey();
        while ((await lastSurvey()) === before) await sleep(500);
      }
    } else {
      await sleep(3000);
    }
    const cpu0 = cpuSeconds(pid);
    const rss0 = memory(pid).rss;
    const broker0 = await counters(port, 'warren_broker_requests_total', 'method');
    const kube0 = await counters(port, 'warren_kube_requests_total', 'verb');
    // Ready objects are counted from one watch per kind (polling lists would load the API server).
    const plurals = [...new Set(w.objects.map((o) => o.plural))];
    const readyKeys = new Set<string>();
    const aborts: AbortController[] = [];
    const allReady = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${readyKeys.size}/${w.objects.length} Ready`)),
        3_600_000,
      );
      let done = false;
      const watch = (plural: string) =>
        void new k8s.Watch(kc)
          .watch(
            `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${plural}`,
            {},
            (_phase, o: any) => {
              const ok =
                o.status?.observedGeneration === o.metadata?.generation &&
                o.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
              if (ok) readyKeys.add(`${plural}/${o.metadata.name}`);
              if (!done && readyKeys.size >= w.objects.length) {
                done = true;
                clearTimeout(timer);
                resolve();
              }
            },
            // A watch that ends (the client's inactivity timeout) starts again, listing what exists.
            () => !done && watch(plural),
          )
          .then((a) => aborts.push(a));
      for (const plural of plurals) watch(plural);
    });
    await sleep(500);
    await profileApiServer('warren');
    const c = sample();
    const t = Date.now();
    await pool(w.objects, PARALLEL, create(ns));
    const createSeconds = (Date.now() - t) / 1000;
    const total = w.objects.length;
    await allReady;
    for (const a of aborts) a.abort();
    const warrenSeconds = (Date.now() - t) / 1000;
    phase('warren', warrenSeconds, c);
    await Promise.all(profiles);
    const cpu = cpuSeconds(pid) - cpu0;
    const mem = memory(pid);
    const broker = diff(await counters(port, 'warren_broker_requests_total', 'method'), broker0);
    const kube = diff(await counters(port, 'warren_kube_requests_total', 'verb'), kube0);
    // Idle: the CPU one survey costs, over a few survey intervals with nothing to do (surveys counted
    // from the RabbitBroker's status, so that the bench's reads cost the operator nothing).
    let seen = await lastSurvey();
    while ((await lastSurvey()) === seen) await sleep(500);
    seen = await lastSurvey();
    const idleCpu0 = cpuSeconds(pid);
    const idleThreads0 = threadCpu(pid);
    const surveysWanted = IDLE_SURVEYS;
    const surveyCpu: number[] = [];
    // An idle survey should find nothing to repair: drift found here is a repair loop.
    const idleSurveys: { cpuMs: number; drifted: number; requests: number; durationMs: number }[] = [];
    for (let k = 0; k < surveysWanted; k++) {
      while ((await lastSurvey()) === seen) await sleep(500);
      const st = await brokerStatus();
      seen = st?.lastSurveyTime;
      surveyCpu.push(Number(st?.survey?.cpuMs));
      idleSurveys.push({
        cpuMs: st?.survey?.cpuMs,
        drifted: st?.survey?.drifted,
        requests: st?.survey?.requests,
        durationMs: st?.survey?.durationMs,
      });
    }
    const surveyCpuMs = surveyCpu.sort((a, b) => a - b)[(surveysWanted - 1) >> 1]!; // the median
    const idleSurveyMs = ((cpuSeconds(pid) - idleCpu0) / surveysWanted) * 1000;
    const idleThreads = Object.fromEntries(
      Object.entries(threadCpu(pid)).map(([t, s]) => [
        t,
        Math.round(((s - (idleThreads0[t] ?? 0)) / surveysWanted) * 1000),
      ]),
    );
    const idleRss = memory(pid).rss;
    const gauges = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const gauge = (name: string) =>
      Number(new RegExp(`^${name} (\\S+)`, 'm').exec(gauges)?.[1] ?? NaN) / 2 ** 20;
    const heap = {
      heapTotalMb: gauge('nodejs_heap_size_total_bytes'),
      heapUsedMb: gauge('nodejs_heap_size_used_bytes'),
      externalMb: gauge('nodejs_external_memory_bytes'),
    };
    const floor = Math.max(apiFloor, brokerFloor);
    return {
      scenario: w.label,
      objects: total,
      apiFloor,
      apiWritesFloor,
      ratioToWrites: warrenSeconds / Math.max(apiWritesFloor, brokerFloor),
      brokerFloor,
      warrenSeconds,
      createSeconds,
      ratio: warrenSeconds / floor,
      cpuMsPerObject: (cpu * 1000) / total,
      peakRssMb: memory(pid).hwm, // the peak so far, idle surveys included
      peakAtReadyMb: mem.hwm,
      startRssMb: rss0,
      idleRssMb: idleRss,
      ...heap,
      surveyCpuMs,
      idleSurveys,
      idleCpuMsPerInterval: idleSurveyMs,
      idleThreadsMs: idleThreads,
      brokerPerObject: sum(broker) / total,
      brokerWritesPerObject: (sum(broker) - (broker.GET ?? 0)) / total,
      kubePerObject: sum(kube) / total,
      kubeWritesPerObject: (sum(kube) - (kube.get ?? 0) - (kube.list ?? 0) - (kube.watch ?? 0)) / total,
      broker,
      kube,
      cpuByPhase,
    };
  } finally {
    proc.kill('SIGTERM');
    // Node can deadlock inside process.exit (nodejs/node#54918: V8's background compile threads
    // wait for a garbage collection the exiting main thread never runs); a pod would be killed
    // after its grace period, and so is the operator here, saying so.
    const exited =
      proc.exitCode !== null || proc.signalCode !== null
        ? Promise.resolve()
        : new Promise((r) => proc.once('exit', r));
    const timer = setTimeout(() => {
      console.error(`bench: the operator did not exit within 30 s of SIGTERM; killing it`);
      proc.kill('SIGKILL');
    }, 30_000);
    await exited;
    clearTimeout(timer);
    for (const v of w.vhosts) await client.deleteVhost(v).catch(() => undefined);
    client.close();
    if (POLICY) await finalizerPolicy(env, kc, 'delete', `${tag}-policy`);
  }
}

/** Applies (and waits until the API server uses it) or deletes deploy/optional/finalizer-policy.yaml. */
async function finalizerPolicy(
  env: Environment,
  kc: k8s.KubeConfig,
  action: 'apply' | 'delete',
  probeNs: string,
) {
  const file = join(REPO, 'deploy', 'optional', 'finalizer-policy.yaml');
  const args = ['--kubeconfig', env.controlPlane.kubeconfigPath, action, '-f', file];
  execFileSync(join(env.controlPlane.binDir, 'kubectl'), args);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  if (action === 'apply') await core.createNamespace({ body: { metadata: { name: probeNs } } });
  const deadline = Date.now() + 60_000;
  for (;;) {
    // Right after the CRDs are installed the API server may not serve the kind yet (503).
    const probe = (await custom
      .createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: probeNs,
        plural: 'rabbitqueues',
        dryRun: 'All',
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'RabbitQueue',
          metadata: { name: 'p' },
          spec: { brokerRef: b, vhost: 'p' },
        },
      })
      .catch((err) => {
        if (err?.code === 503 && Date.now() < deadline) return { metadata: {} };
        throw err;
      })) as { metadata: { finalizers?: string[] } };
    // Applied: wait until the API server adds the finalizer; deleted: until it no longer does.
    if (!!probe.metadata.finalizers?.length === (action === 'apply')) return;
    if (Date.now() > deadline) throw new Error(`the finalizer policy: ${action} not in effect after 60 s`);
    await sleep(250);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'warren-perf-'));
const env = await startEnvironment(dir);
const rows: Awaited<ReturnType<typeof scenario>>[] = [];
try {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(env.controlPlane.kubeconfigPath);
  for (const [i, s] of SCENARIOS.entries()) {
    console.error(`bench: ${s} ...`);
    const row = await scenario(env, kc, s, i);
    rows.push(row);
    console.error(JSON.stringify(row));
  }
} finally {
  await env.stop();
  rmSync(dir, { recursive: true, force: true });
}

const f = (n: number, d = 1) => n.toFixed(d);
console.log(
  `\n| scenario | objects | API floor s | API floor, ${POLICY ? '2 writes/object (finalizer policy)' : '3 writes/object'} s | broker floor s | warren s | ratio (goal <= 1.5) | ratio to ${POLICY ? '2' : '3'}-write floor | CPU ms/object (<= 8) | peak RSS MB | idle RSS MB | survey CPU ms (< 50) | idle CPU ms per ${SURVEY} | broker req/object (writes) | kube req/object (writes) |`,
);
console.log(`|${'---|'.repeat(15)}`);
for (const r of rows) {
  console.log(
    `| ${r.scenario} | ${r.objects} | ${f(r.apiFloor)} | ${f(r.apiWritesFloor)} | ${f(r.brokerFloor)} | ${f(r.warrenSeconds)} | ${f(r.ratio, 2)} | ${f(r.ratioToWrites, 2)} | ${f(r.cpuMsPerObject)} | ${f(r.peakRssMb, 0)} | ${f(r.idleRssMb, 0)} | ${f(r.surveyCpuMs, 0)} | ${f(r.idleCpuMsPerInterval, 0)} | ${f(r.brokerPerObject, 2)} (${f(r.brokerWritesPerObject, 2)}) | ${f(r.kubePerObject, 2)} (${f(r.kubeWritesPerObject, 2)}) |`,
  );
}

// Where the CPU went: per timed phase, how busy the machine's cores were and what each process spent
// (the broker is beam.smp; processes under 0.1 s are left out).
const procs = ['kube-apiserver', 'etcd', 'beam.smp', 'warren', 'bench', 'kube-controller'];
console.log(`\n| scenario | phase | wall s | cores busy % | ${procs.join(' s | ')} s | others s |`);
console.log(`|${'---|'.repeat(procs.length + 5)}`);
for (const r of rows) {
  for (const [name, p] of Object.entries(r.cpuByPhase)) {
    const others = Object.entries(p.seconds)
      .filter(([k]) => !procs.includes(k))
      .reduce((a, [, s]) => a + s, 0);
    console.log(
      `| ${r.scenario} | ${name} | ${f(p.wall)} | ${f(p.busy * 100, 0)} | ${procs.map((k) => f(p.seconds[k] ?? 0)).join(' | ')} | ${f(others)} |`,
    );
  }
}
