// npm run bench -- --write-cost N: what each kind of write costs the API server (and etcd) for N
// RabbitQueues at parallelism 16, from a plain client: the create, then status writes made in
// different ways. Wall time and CPU of kube-apiserver, etcd and this process per phase; with
// --pprof DIR, a CPU profile of the API server over the first 8 s of each phase.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION } from '../src/api/common.ts';
import { Kube, customPath } from '../src/runtime/kube.ts';
import { KubeConfig } from '../src/runtime/kubeconfig.ts';
import { startEnvironment } from '../test/support/environment.ts';
import { apiServerProfile, cpuSeconds, pool } from './measure.ts';

const argv = process.argv;
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i > 0 ? argv[i + 1]! : dflt;
};
const N = Number(opt('write-cost', '3000'));
const PPROF = opt('pprof', '');
const PARALLEL = 16;

const pidOf = (pattern: string) =>
  Number(execFileSync('pgrep', ['-n', '-f', pattern], { encoding: 'utf8' }).trim());

const dir = mkdtempSync(join(tmpdir(), 'warren-write-cost-'));
const env = await startEnvironment(dir);
try {
  const apiserver = pidOf(`kube-apiserver.*${dir}`);
  const etcd = pidOf(`/etcd --data-dir=${dir}`);
  const kube = new Kube(KubeConfig.fromFile(env.controlPlane.kubeconfigPath));
  // Connections closed to or by the API server, counted in TIME-WAIT (60 s on Linux: a phase that
  // lasts longer undercounts).
  const apiPort = new URL(env.controlPlane.server).port;
  const closed = () =>
    execFileSync('ss', ['-tanH', 'state', 'time-wait', `( sport = :${apiPort} or dport = :${apiPort} )`], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean).length;
  const kubectl = join(env.controlPlane.binDir, 'kubectl');
  const ns = 'wc';
  await kube.create('/api/v1/namespaces', { metadata: { name: ns } });
  const names = Array.from({ length: N }, (_, i) => `q-${String(i).padStart(5, '0')}`);
  const ref = (name: string) => customPath('rabbitqueues', ns, name);
  const condition = (message: string) => ({
    type: 'Ready',
    status: 'True',
    reason: 'Reconciled',
    message,
    observedGeneration: 1,
    lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  });
  const rows: string[][] = [];
  const objects = new Map<string, any>();
  const phase = async (label: string, fn: (name: string) => Promise<unknown>) => {
    let profiled: Promise<unknown> | undefined;
    if (PPROF) {
      const file = join(PPROF, `${label.replace(/[^a-z0-9]+/gi, '-')}.pprof`);
      profiled = apiServerProfile(kubectl, env.controlPlane.kubeconfigPath, file, 8);
    }
    const c0 = closed();
    const a0 = cpuSeconds(apiserver);
    const e0 = cpuSeconds(etcd);
    const s0 = process.cpuUsage();
    const t0 = Date.now();
    await pool(names, PARALLEL, fn);
    const wall = (Date.now() - t0) / 1000;
    const self = process.cpuUsage(s0);
    const a = cpuSeconds(apiserver) - a0;
    const e = cpuSeconds(etcd) - e0;
    await profiled;
    const ms = (s: number) => ((s * 1000) / N).toFixed(2);
    rows.push([
      label,
      wall.toFixed(1),
      ms(a),
      ms(e),
      ms((self.user + self.system) / 1e6),
      String(closed() - c0),
    ]);
    console.log(rows.at(-1)!.join('\t'));
  };
  const spec = (name: string) => ({ brokerRef: { name: 'local' }, vhost: 'vh', name });

  await phase('create', async (name) => {
    objects.set(
      name,
      await kube.create(customPath('rabbitqueues', ns), {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'RabbitQueue',
        metadata: { name },
        spec: spec(name),
      }),
    );
  });
  await phase('status merge-patch (first)', (name) =>
    kube.patch(
      `${ref(name)}/status`,
      { status: { observedGeneration: 1, conditions: [condition('applied to the broker')] } },
      'merge-patch',
    ),
  );
  await phase('status merge-patch (changed)', (name) =>
    kube.patch(
      `${ref(name)}/status`,
      { status: { conditions: [condition('applied again')] } },
      'merge-patch',
    ),
  );
  await phase('get', async (name) => {
    objects.set(name, await kube.get(ref(name)));
  });
  await phase('status PUT (whole object, changed)', (name) => {
    const o = objects.get(name);
    o.status = { observedGeneration: 1, conditions: [condition('put')] };
    return kube.replace(`${ref(name)}/status`, o);
  });
  // What the API server takes, at the least, for each object warren makes Ready: its create, then
  // one status write (the finalizer policy adds the finalizer inside the create).
  await kube.create('/api/v1/namespaces', { metadata: { name: `${ns}3` } });
  await phase('create, then status merge-patch', async (name) => {
    await kube.create(customPath('rabbitqueues', `${ns}3`), {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'RabbitQueue',
      metadata: { name },
      spec: spec(name),
    });
    await kube.patch(
      `${customPath('rabbitqueues', `${ns}3`, name)}/status`,
      { status: { observedGeneration: 1, conditions: [condition('applied to the broker')] } },
      'merge-patch',
    );
  });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(env.controlPlane.kubeconfigPath);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  await kube.create('/api/v1/namespaces', { metadata: { name: `${ns}2` } });
  await phase('create with client-node (another namespace)', (name) =>
    custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: `${ns}2`,
      plural: 'rabbitqueues',
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'RabbitQueue', metadata: { name }, spec: spec(name) },
    }),
  );
  console.log(
    '\n| write | wall s | kube-apiserver CPU ms/object | etcd CPU ms/object | client CPU ms/object | connections closed |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
} finally {
  await env.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
