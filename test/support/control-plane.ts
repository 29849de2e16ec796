import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { freePort } from './ports.ts';
import { startProcess, waitFor, type Managed } from './processes.ts';

const BUILD_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'control-plane', 'build.sh');

export interface ControlPlane {
  /** Where kube-apiserver, kube-controller-manager, etcd and kubectl are. */
  binDir: string;
  server: string;
  token: string;
  caFile: string;
  kubeconfigPath: string;
  version: string;
  /** Kills kube-apiserver (SIGKILL) and starts it again on the same port, certificates and etcd. */
  restartApiserver(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** Builds (or finds in the cache) kube-apiserver, kube-controller-manager and etcd; returns their directory. */
export function ensureControlPlaneBinaries(): string {
  if (process.env.WARREN_CONTROL_PLANE_BIN) return process.env.WARREN_CONTROL_PLANE_BIN;
  const out = execFileSync('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] }).toString();
  return out.trim().split('\n').pop()!;
}

export function kubeconfigYaml(server: string, caFile: string, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: warren-test\n  cluster:\n    server: ${server}\n    certificate-authority: ${caFile}`,
    'users:',
    `- name: admin\n  user:\n    token: ${token}`,
    'contexts:',
    '- name: warren-test\n  context:\n    cluster: warren-test\n    user: admin\n    namespace: default',
    'current-context: warren-test',
    '',
  ].join('\n');
}

async function httpsGet(url: string, token: string, ca: string): Promise<{ status: number; body: string }> {
  const dispatcher = new Agent({ connect: { ca } });
  try {
    const res = await request(url, { headers: { authorization: `Bearer ${token}` }, dispatcher });
    return { status: res.statusCode, body: await res.body.text() };
  } finally {
    await dispatcher.close();
  }
}

/** Starts etcd, kube-apiserver and kube-controller-manager on free loopback ports under dir. */
export async function startControlPlane(
  dir: string,
  binDir = ensureControlPlaneBinaries(),
): Promise<ControlPlane> {
  mkdirSync(join(dir, 'pki'), { recursive: true });
  const procs: Managed[] = [];
  const stop = async () => {
    for (const p of procs.reverse()) await p.stop();
  };
  try {
    const [etcdPort, peerPort, apiPort, kcmPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    procs.push(
      startProcess(
        'etcd',
        join(binDir, 'etcd'),
        [
          `--data-dir=${join(dir, 'etcd')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
          '--unsafe-no-fsync',
          '--log-level=warn',
        ],
        { logFile: join(dir, 'etcd.log') },
      ),
    );
    await waitFor('etcd', async () => (await fetch(`${etcdUrl}/health`)).ok, {
      timeoutMs: 30_000,
      process: procs[0],
    });

    const token = randomBytes(24).toString('hex');
    writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`);
    const saKey = join(dir, 'pki', 'sa.key');
    if (!existsSync(saKey)) {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      writeFileSync(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    }
    const server = `https://127.0.0.1:${apiPort}`;
    const startApiserver = () =>
      startProcess(
        'kube-apiserver',
        join(binDir, 'kube-apiserver'),
        [
          `--etcd-servers=${etcdUrl}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${apiPort}`,
          `--cert-dir=${join(dir, 'pki')}`,
          `--token-auth-file=${join(dir, 'tokens.csv')}`,
          '--authorization-mode=RBAC',
          `--service-account-issuer=${server}/`,
          `--service-account-key-file=${saKey}`,
          `--service-account-signing-key-file=${saKey}`,
          '--service-cluster-ip-range=10.0.0.0/24',
          '--disable-admission-plugins=ServiceAccount',
          '--endpoint-reconciler-type=none',
          '--allow-privileged=true',
          '-v=1',
        ],
        { logFile: join(dir, 'kube-apiserver.log') },
      );
    let apiserver = startApiserver();
    procs.push(apiserver);
    const caFile = join(dir, 'pki', 'apiserver.crt');
    await waitFor('kube-apiserver certificate', async () => existsSync(caFile), {
      timeoutMs: 60_000,
      process: apiserver,
    });
    const ca = readFileSync(caFile, 'utf8');
    await waitFor(
      'kube-apiserver /readyz',
      async () => (await httpsGet(`${server}/readyz`, token, ca)).status === 200,
      { timeoutMs: 90_000, process: apiserver, intervalMs: 300 },
    );
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfigYaml(server, caFile, token));

    procs.push(
      startProcess(
        'kube-controller-manager',
        join(binDir, 'kube-controller-manager'),
        [
          `--kubeconfig=${kubeconfigPath}`,
          `--authentication-kubeconfig=${kubeconfigPath}`,
          `--authorization-kubeconfig=${kubeconfigPath}`,
          '--leader-elect=false',
          '--use-service-account-credentials=false',
          '--controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller',
          `--service-account-private-key-file=${saKey}`,
          `--root-ca-file=${caFile}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${kcmPort}`,
          '-v=1',
        ],
        { logFile: join(dir, 'kube-controller-manager.log') },
      ),
    );
    const version = JSON.parse((await httpsGet(`${server}/version`, token, ca)).body).gitVersion as string;
    const restartApiserver = async (downMs: number) => {
      await apiserver.stop(0);
      await new Promise((r) => setTimeout(r, downMs));
      const next = startApiserver();
      procs[procs.indexOf(apiserver)] = next;
      apiserver = next;
      await waitFor(
        'kube-apiserver /readyz after restart',
        async () => (await httpsGet(`${server}/readyz`, token, ca)).status === 200,
        { timeoutMs: 90_000, process: next, intervalMs: 300 },
      );
    };
    return { binDir, server, token, caFile, kubeconfigPath, version, restartApiserver, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
