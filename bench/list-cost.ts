// npm run bench -- --list-cost N: what reading N queues of one vhost costs the broker, in pages of
// 500 (the broker's largest page) against one request, with the survey's query (no stats, basic
// columns). The broker's CPU is read from /proc; a broker of its own, loopback only.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagementClient } from '../src/rabbitmq/index.ts';
import { queueListColumns } from '../src/rabbitmq/versions.ts';
import { startBroker } from '../test/support/rabbitmq.ts';

const i = process.argv.indexOf('--list-cost');
const N = Number(process.argv[i + 1] ?? 10_000) || 10_000;
const ROUNDS = 3;

const dir = mkdtempSync(join(tmpdir(), 'warren-bench-lists-'));
const broker = await startBroker(join(dir, 'broker'));
try {
  const client = new ManagementClient({
    endpoint: broker.managementUrl,
    username: broker.username,
    password: broker.password,
    maxConcurrentRequests: 8,
    timeoutMs: 300_000,
  });
  await client.put('/api/vhosts/lists', {});
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < N)
        await client.putQueue('lists', `q-${next++}`, { durable: true, auto_delete: false, arguments: {} });
    }),
  );
  const pid = Number(readFileSync(join(broker.dir, 'rabbit.pid'), 'utf8').trim());
  const cpuSeconds = () => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  };
  const auth = `Basic ${Buffer.from(`${broker.username}:${broker.password}`).toString('base64')}`;
  const get = async (query: string) => {
    const res = await fetch(`${broker.managementUrl}/api/queues/lists?${query}`, {
      headers: { authorization: auth },
    });
    if (res.status !== 200) throw new Error(`GET queues: ${res.status}`);
    return `${((await res.text()).length / 1e6).toFixed(2)} MB`;
  };
  const columns = queueListColumns(await client.capabilities()).join(',');
  const measure = async (label: string, read: () => Promise<string>) => {
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = Date.now();
      const c0 = cpuSeconds();
      const size = await read();
      console.log(`${label}: ${Date.now() - t0} ms, broker CPU ${(cpuSeconds() - c0).toFixed(2)} s, ${size}`);
    }
  };
  console.log(`${N} queues in one vhost, RabbitMQ ${broker.version}`);
  await measure(`in pages of 500 (${Math.ceil(N / 500)} requests)`, async () => {
    let rows = 0;
    for (let page = 1; page <= Math.ceil(N / 500); page++) {
      const res = await fetch(
        `${broker.managementUrl}/api/queues/lists?disable_stats=true&columns=${columns}&page=${page}&page_size=500`,
        { headers: { authorization: auth } },
      );
      rows += ((await res.json()) as { items: unknown[] }).items.length;
    }
    return `${rows} rows`;
  });
  await measure('in one request', () => get(`disable_stats=true&columns=${columns}`));
  await measure("warren's listQueues", async () => `${(await client.listQueues('lists')).length} rows`);
} finally {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
}
