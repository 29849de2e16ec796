// npm run bench -- --survey N [--only-queues]: what one drift survey costs (requests, time, CPU) with
// 0 and N objects of each routing kind (exchanges, bindings, policies, operator policies) and N
// queues declared in one vhost, or N queues only, on the real broker. The objects are loaded with the management API; the survey runs against
// in-memory resources that declare them, Ready, as the operator's caches would hold them.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Surveyor } from '../src/kinds/survey.ts';
import { TOPOLOGY_KINDS } from '../src/kinds/index.ts';
import { ManagementClient } from '../src/rabbitmq/index.ts';
import { hashPassword } from '../src/rabbitmq/password.ts';
import type { SecretCache } from '../src/runtime/secrets.ts';
import { startEnvironment } from '../test/support/environment.ts';
import { mgmt } from '../test/support/management.ts';
import { cpuSeconds } from './measure.ts';

const i = process.argv.indexOf('--survey');
const N = Number(process.argv[i + 1] ?? 1000) || 1000;
const VHOST = 'survey-bench';
const ONLY_QUEUES = process.argv.includes('--only-queues');
// --mixed K: instead, the perf bench's mixed workload times K (10K vhosts, 1,000K queues, 100K
// exchanges, 1,000K bindings, 200K users with passwords and their permissions), spread over vhosts.
// --cpu-prof DIR: a CPU profile of the seven measured surveys of each step, one file per step.
const pi = process.argv.indexOf('--cpu-prof');
const PROFILE = pi > 0 ? process.argv[pi + 1]! : '';
const mi = process.argv.indexOf('--mixed');
const MIXED = mi > 0 ? Number(process.argv[mi + 1] ?? 1) || 1 : 0;

/** Starts V8's profiler in this process; the function returned stops it and writes the profile. */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<any>((resolve, reject) =>
      session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))),
    );
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
  return async (file) => {
    const { profile } = await post('Profiler.stop');
    mkdirSync(PROFILE, { recursive: true });
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

const dir = mkdtempSync(join(tmpdir(), 'warren-bench-survey-'));
const env = await startEnvironment(dir);
try {
  const admin = mgmt(env.broker.managementUrl, env.broker.username, env.broker.password);
  const brokerPid = Number(readFileSync(join(env.broker.dir, 'rabbit.pid'), 'utf8').trim());
  await admin.put(`/vhosts/${VHOST}`, {});
  const client = new ManagementClient({
    endpoint: env.broker.managementUrl,
    username: env.broker.username,
    password: env.broker.password,
  });
  const resources = new Map<string, any[]>(TOPOLOGY_KINDS.map((k) => [k.def.plural, []]));
  const ready = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True' }] };
  const resource = (plural: string, name: string, spec: Record<string, unknown>, status = {}) =>
    resources.get(plural)!.push({
      metadata: { name, namespace: 'bench', uid: name, generation: 1 },
      spec: { brokerRef: { name: 'local' }, deletionPolicy: 'Delete', vhost: VHOST, ...spec },
      status: { ...ready, ...status },
    });
  const secrets = new Map<string, { data: Record<string, string> }>();
  if (!MIXED) resource('rabbitvhosts', 'vh', { name: VHOST });
  const surveyor = new Surveyor({
    kinds: TOPOLOGY_KINDS.map((kind) => ({
      kind,
      list: () => resources.get(kind.def.plural)!,
      enqueue: () => undefined,
      brokerOf: () => 'bench/local',
    })),
    secrets: {
      get: async (_ns: string, name: string) => secrets.get(name),
      peek: (_ns: string, name: string) => secrets.get(name),
    } as unknown as SecretCache,
    refs: { lookup: () => undefined },
    log: pino({ level: process.env.WARREN_BENCH_LOG_LEVEL ?? 'silent' }),
  });
  const measure = async (label: string) => {
    await surveyor.survey('bench/local', client); // the marker is written once
    const runs = [];
    const profiling = PROFILE && (await startProfile());
    const broker0 = cpuSeconds(brokerPid);
    for (let r = 0; r < 7; r++) runs.push(await surveyor.survey('bench/local', client));
    const brokerMs = Math.round(((cpuSeconds(brokerPid) - broker0) / 7) * 1000);
    if (profiling) await profiling(`${PROFILE}/${label.replace(/\W+/g, '-')}.cpuprofile`);
    const last = runs[runs.length - 1]!;
    const cpu = runs.map((x) => x.cpuMs).sort((a, b) => a - b);
    console.log(
      `${label}: ${last.requests} requests per survey, ${runs.map((x) => x.durationMs).join(' / ')} ms, ` +
        `CPU ${cpu[3]} ms (median of 7), broker CPU ${brokerMs} ms (mean), ` +
        `${last.managed} managed, ${last.drifted} drifted, ${last.unmanaged} unmanaged`,
    );
  };

  await measure('0 objects of each routing kind');

  // N exchanges, each bound to its own queue, and N policies and operator policies.
  const defs = {
    exchanges: [] as any[],
    queues: [] as any[],
    bindings: [] as any[],
    policies: [] as any[],
  };
  for (let k = 0; k < N; k++) {
    const x = `x-${k}`;
    const q = `q-${k}`;
    defs.exchanges.push({
      name: x,
      vhost: VHOST,
      type: 'direct',
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: {},
    });
    defs.queues.push({ name: q, vhost: VHOST, durable: true, auto_delete: false, arguments: {} });
    defs.bindings.push({
      source: x,
      vhost: VHOST,
      destination: q,
      destination_type: 'queue',
      routing_key: 'k',
      arguments: {},
    });
    defs.policies.push({
      name: `p-${k}`,
      vhost: VHOST,
      pattern: `^${q}$`,
      'apply-to': 'queues',
      priority: 0,
      definition: { 'max-length': 10 },
    });
    resource('rabbitexchanges', x, {
      name: x,
      type: 'direct',
      durable: true,
      autoDelete: false,
      internal: false,
    });
    resource('rabbitqueues', q, { name: q, durable: true, autoDelete: false });
    resource('rabbitbindings', `b-${k}`, {
      source: x,
      destination: q,
      destinationType: 'queue',
      routingKey: 'k',
    });
    resource('rabbitpolicies', `p-${k}`, {
      name: `p-${k}`,
      pattern: `^${q}$`,
      applyTo: 'queues',
      priority: 0,
      definition: { 'max-length': 10 },
    });
    resource('rabbitoperatorpolicies', `op-${k}`, {
      name: `op-${k}`,
      pattern: `^${q}$`,
      applyTo: 'queues',
      priority: 0,
      definition: { 'max-length': 100 },
    });
  }
  if (ONLY_QUEUES) {
    defs.exchanges = [];
    defs.bindings = [];
    defs.policies = [];
    for (const plural of ['rabbitexchanges', 'rabbitbindings', 'rabbitpolicies', 'rabbitoperatorpolicies'])
      resources.get(plural)!.length = 0;
  }
  // Loaded 8 at a time with warren's own client (it retries a request cut by a closing keep-alive connection).
  const loader = new ManagementClient({
    endpoint: env.broker.managementUrl,
    username: env.broker.username,
    password: env.broker.password,
    maxConcurrentRequests: 8,
    timeoutMs: 300_000,
  });
  const put = (path: string, body: unknown) => loader.put(`/api${path}`, body);
  const post = (path: string, body: unknown) => loader.post(`/api${path}`, body);
  // Policies first: each policy written re-evaluates every queue and exchange of the vhost.
  const policies: Array<() => Promise<unknown>> = [];
  const objects: Array<() => Promise<unknown>> = [];
  for (const p of defs.policies) policies.push(() => put(`/policies/${VHOST}/${p.name}`, p));
  for (let k = 0; k < (ONLY_QUEUES ? 0 : N); k++)
    policies.push(() =>
      put(`/operator-policies/${VHOST}/op-${k}`, {
        pattern: `^q-${k}$`,
        'apply-to': 'queues',
        priority: 0,
        definition: { 'max-length': 100 },
      }),
    );
  for (const x of defs.exchanges) objects.push(() => put(`/exchanges/${VHOST}/${x.name}`, x));
  for (const q of defs.queues) objects.push(() => put(`/queues/${VHOST}/${q.name}`, q));
  const run = async (list: Array<() => Promise<unknown>>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < list.length) await list[next++]!();
      }),
    );
  };
  await run(policies);
  async function loadMixed(k: number) {
    const V = 10 * k;
    const vh = (i: number) => `mixed-v${i % V}`;
    const steps: Array<Array<() => Promise<unknown>>> = [[], [], []];
    for (let v = 0; v < V; v++) {
      resource('rabbitvhosts', `v${v}`, { name: vh(v) });
      steps[0]!.push(() => put(`/vhosts/${vh(v)}`, {}));
    }
    for (let i = 0; i < 1000 * k; i++) {
      resource('rabbitqueues', `q-${i}`, { vhost: vh(i), name: `q-${i}`, durable: true, autoDelete: false });
      steps[1]!.push(() =>
        put(`/queues/${vh(i)}/q-${i}`, { durable: true, auto_delete: false, arguments: {} }),
      );
    }
    for (let i = 0; i < 100 * k; i++) {
      resource('rabbitexchanges', `x-${i}`, {
        vhost: vh(i),
        name: `x-${i}`,
        type: 'topic',
        durable: true,
        autoDelete: false,
        internal: false,
      });
      steps[1]!.push(() => put(`/exchanges/${vh(i)}/x-${i}`, { type: 'topic', durable: true }));
    }
    for (let i = 0; i < 1000 * k; i++) {
      const j = i % (100 * k);
      const spec = {
        vhost: vh(j),
        source: `x-${j}`,
        destination: `q-${j}`,
        destinationType: 'queue',
        routingKey: `k.${i}`,
      };
      resource('rabbitbindings', `b-${i}`, spec);
      steps[2]!.push(() =>
        post(`/bindings/${vh(j)}/e/x-${j}/q/q-${j}`, { routing_key: `k.${i}`, arguments: {} }),
      );
    }
    for (let i = 0; i < 200 * k; i++) {
      const user = `mixed-u${i}`;
      const password = `pw-${i}`;
      secrets.set(`u${i}-pw`, { data: { password: Buffer.from(password).toString('base64') } });
      resource(
        'rabbitusers',
        `u${i}`,
        { username: user, credentialsSecretRef: { name: `u${i}-pw` } },
        {
          username: user,
        },
      );
      steps[1]!.push(() =>
        put(`/users/${user}`, {
          password_hash: hashPassword(password, 'rabbit_password_hashing_sha256'),
          hashing_algorithm: 'rabbit_password_hashing_sha256',
          tags: [],
        }),
      );
      resource('rabbitpermissions', `p${i}`, {
        vhost: vh(i),
        user,
        configure: '.*',
        write: '.*',
        read: '.*',
      });
      steps[2]!.push(() =>
        put(`/permissions/${vh(i)}/${user}`, { configure: '.*', write: '.*', read: '.*' }),
      );
    }
    for (const step of steps) await run(step);
  }
  if (MIXED) {
    for (const plural of resources.keys()) resources.get(plural)!.length = 0;
    await loadMixed(MIXED);
    await measure(`mixed x${MIXED}`);
  } else {
    await run(policies);
    await run(objects);
    await run(defs.bindings.map((b) => () => post(`/bindings/${VHOST}/e/${b.source}/q/${b.destination}`, b)));
    await measure(ONLY_QUEUES ? `${N} queues` : `${N} of each (and ${N} queues)`);
  }
} finally {
  await env.stop();
  rmSync(dir, { recursive: true, force: true });
}
