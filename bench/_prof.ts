import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Surveyor } from '../src/kinds/survey.ts';
import { TOPOLOGY_KINDS } from '../src/kinds/index.ts';
import { ManagementClient } from '../src/rabbitmq/index.ts';
import type { SecretCache } from '../src/runtime/secrets.ts';
import { startEnvironment } from '../test/support/environment.ts';
import { mgmt } from '../test/support/management.ts';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';

const N = Number(process.env.N ?? 10000);
const VHOST = 'survey-bench';
const env = await startEnvironment(mkdtempSync(join(tmpdir(), 'warren-prof-')));
try {
  const admin = mgmt(env.broker.managementUrl, env.broker.username, env.broker.password);
  await admin.put(`/vhosts/${VHOST}`, {});
  const client = new ManagementClient({ endpoint: env.broker.managementUrl, username: env.broker.username, password: env.broker.password });
  const resources = new Map<string, any[]>(TOPOLOGY_KINDS.map((k) => [k.def.plural, []]));
  const ready = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True' }] };
  const resource = (plural: string, name: string, spec: Record<string, unknown>) =>
    resources.get(plural)!.push({
      metadata: { name, namespace: 'bench', uid: name, generation: 1 },
      spec: { brokerRef: { name: 'local' }, deletionPolicy: 'Delete', vhost: VHOST, ...spec },
      status: { ...ready },
    });
  resource('rabbitvhosts', 'vh', { name: VHOST });
  const loader = new ManagementClient({ endpoint: env.broker.managementUrl, username: env.broker.username, password: env.broker.password, maxConcurrentRequests: 8, timeoutMs: 300_000 });
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => { while (next < N) { const k = next++; await loader.put(`/api/queues/${VHOST}/q-${k}`, { durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic' } }); } }));
  for (let k = 0; k < N; k++) resource('rabbitqueues', `q-${k}`, { name: `q-${k}`, type: 'classic' });
  const surveyor = new Surveyor({
    kinds: TOPOLOGY_KINDS.map((kind) => ({ kind, list: () => resources.get(kind.def.plural)!, enqueue: () => undefined, brokerOf: () => 'bench/local' })),
    secrets: {} as SecretCache, refs: { lookup: () => undefined }, log: pino({ level: 'silent' }),
  });
  await surveyor.survey('bench/local', client);
  const s = new Session(); s.connect();
  const PROF = !!process.env.PROFILE;
  if (PROF) { await s.post('Profiler.enable'); await s.post('Profiler.setSamplingInterval', { interval: 1000 }); await s.post('Profiler.start'); }
  await surveyor.survey('bench/local', client);
  const cpus: number[] = [];
  for (let r = 0; r < 7; r++) { const x = await surveyor.survey('bench/local', client); cpus.push(x.cpuMs); console.log(`survey: ${x.durationMs} ms, cpu ${x.cpuMs} ms, ${x.requests} req, drifted ${x.drifted}, unmanaged ${x.unmanaged}`); }
  console.log('median cpu ms', cpus.sort((a, b) => a - b)[3]);
  if (PROF) { const { profile } = await s.post('Profiler.stop');
  writeFileSync(process.env.PROFILE!, JSON.stringify(profile)); }
} finally { await env.stop(); }
