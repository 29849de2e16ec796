import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { freePort } from './ports.ts';
import { startProcess, waitFor, type Managed } from './processes.ts';

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const PLUGINS = [
  'rabbitmq_management',
  'rabbitmq_shovel',
  'rabbitmq_shovel_management',
  'rabbitmq_federation',
  'rabbitmq_federation_management',
  // Super streams' partitions are streams; the plugin also serves the stream protocol's metadata.
  'rabbitmq_stream',
];

export interface BrokerPorts {
  amqp: number;
  management: number;
  dist: number;
  /** The stream protocol's listener (its default, 5552, would collide between brokers). */
  stream: number;
}

export interface Broker {
  managementUrl: string;
  amqpUrl: string;
  username: string;
  password: string;
  nodeName: string;
  version: string;
  dir: string;
  ports: BrokerPorts;
  /** Stops the node cleanly (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** Starts the node again on the same ports; with wipe, on an empty data directory. */
  restart(opts?: { wipe?: boolean }): Promise<void>;
}

export function rabbitmqInstalled(): boolean {
  return existsSync(SERVER);
}

/**
 * Which broker the tests run against: the Debian bookworm package on this machine (3.10), or a
 * newer Debian suite's package inside a debootstrap root filesystem (WARREN_TEST_BROKER=4.0 for
 * trixie, 4.3 for sid), built once per machine by test/rabbitmq-rootfs/build.sh.
 */
export const BROKER_SUITES: Record<string, string | undefined> = {
  '3.10': undefined,
  '4.0': 'trixie',
  '4.3': 'sid',
};

export function selectedBroker(): { name: string; rootfs?: string } {
  const name = process.env.WARREN_TEST_BROKER || '3.10';
  if (!(name in BROKER_SUITES)) {
    throw new Error(`WARREN_TEST_BROKER=${name}: choose one of ${Object.keys(BROKER_SUITES).join(', ')}`);
  }
  const suite = BROKER_SUITES[name];
  if (!suite) return { name };
  if (process.env.WARREN_BROKER_ROOTFS) return { name, rootfs: process.env.WARREN_BROKER_ROOTFS };
  const out = execFileSync('bash', [join(import.meta.dirname, '..', 'rabbitmq-rootfs', 'build.sh'), suite], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }).toString();
  const rootfs = out.trim().split('\n').pop()!;
  removeStaleNodeDirs(rootfs);
  // Later calls (workers, other files) reuse it without running the script again.
  process.env.WARREN_BROKER_ROOTFS = rootfs;
  return { name, rootfs };
}

/**
 * Starts an isolated RabbitMQ node from the Debian package: its own HOME (Erlang cookie), node
 * name, ports, data and log directories and plugin list, beside any system broker.
 */
export interface BrokerExtras {
  /** Files written into the node's directory (certificates), by name. */
  files?: Record<string, string>;
  /** More rabbitmq.conf lines; `dir` is the node's directory as the broker sees it. */
  config?: (dir: string) => string[];
}

export async function startBroker(
  dir: string,
  ports?: BrokerPorts,
  rootfs = selectedBroker().rootfs,
  extras: BrokerExtras = {},
): Promise<Broker> {
  if (rootfs) {
    // The node's files live inside the root filesystem; `dir` holds only a link to them.
    const inside = join('/run-warren', `${basename(dir)}-${process.pid}`);
    mkdirSync(join(rootfs, inside), { recursive: true });
    mkdirSync(dirname(dir), { recursive: true });
    if (!existsSync(dir)) symlinkSync(join(rootfs, inside), dir);
    return start(join(rootfs, inside), inside, ports, rootfs, extras);
  }
  if (!rabbitmqInstalled()) {
    throw new Error(
      `${SERVER} not found: install the Debian package rabbitmq-server (apt-get install rabbitmq-server)`,
    );
  }
  return start(dir, dir, ports, undefined, extras);
}

/** Node directories inside a root filesystem left by runs whose process is gone. */
function removeStaleNodeDirs(rootfs: string): void {
  const base = join(rootfs, 'run-warren');
  for (const entry of existsSync(base) ? readdirSync(base) : []) {
    const pid = Number(entry.split('-').pop());
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      /* gone */
    }
    if (!alive) rmSync(join(base, entry), { recursive: true, force: true });
  }
}

/** hostDir: the node's directory as this process sees it; dir: as the broker sees it (chroot). */
async function start(
  hostDir: string,
  dir: string,
  ports?: BrokerPorts,
  rootfs?: string,
  extras: BrokerExtras = {},
): Promise<Broker> {
  mkdirSync(join(hostDir, 'home'), { recursive: true });
  const p: BrokerPorts = ports ?? {
    amqp: await freePort(),
    management: await freePort(),
    dist: await freePort(),
    stream: await freePort(),
  };
  const nodeName = `warren-${p.amqp}@localhost`;
  const passwordFile = join(hostDir, 'admin-password');
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(12).toString('hex'));
  const password = readFileSync(passwordFile, 'utf8').trim();
  const username = 'warren-admin';
  writeFileSync(join(hostDir, 'rabbitmq-env.conf'), '');
  for (const [name, text] of Object.entries(extras.files ?? {})) writeFileSync(join(hostDir, name), text);
  writeFileSync(
    join(hostDir, 'rabbitmq.conf'),
    [
      `listeners.tcp.1 = 127.0.0.1:${p.amqp}`,
      'management.tcp.ip = 127.0.0.1',
      `management.tcp.port = ${p.management}`,
      `stream.listeners.tcp.1 = 127.0.0.1:${p.stream}`,
      // Quicker stats for tests; the operator itself reads with disable_stats.
      'collect_statistics_interval = 1000',
      ...(extras.config?.(dir) ?? []),
      '',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = {
    PATH: rootfs ? '/usr/sbin:/usr/bin:/sbin:/bin' : process.env.PATH,
    LANG: 'C.UTF-8',
    HOME: join(dir, 'home'),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(p.amqp),
    RABBITMQ_DIST_PORT: String(p.dist),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_LOGS: '-',
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_ENABLED_PLUGINS: PLUGINS.join(','),
    RABBITMQ_PID_FILE: join(dir, 'rabbit.pid'),
    RABBITMQ_DEFAULT_USER: username,
    RABBITMQ_DEFAULT_PASS: password,
  };
  const managementUrl = `http://127.0.0.1:${p.management}`;
  const auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  let proc: Managed | undefined;
  let version = '';

  const boot = async () => {
    const logFile = join(hostDir, 'rabbitmq.log');
    proc = rootfs
      ? // A private mount namespace gives the chroot its own /proc (Erlang's memory monitor needs it)
        // and takes the mount away with the process.
        startProcess(
          'rabbitmq-server',
          'unshare',
          [
            '--mount',
            '--propagation',
            'private',
            'sh',
            '-c',
            'mount -t proc proc "$0/proc" && exec chroot "$0" env -i "$@"',
            rootfs,
            ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
            SERVER,
          ],
          { env: { PATH: process.env.PATH }, logFile },
        )
      : startProcess('rabbitmq-server', SERVER, [], { env, logFile });
    await waitFor(
      'rabbitmq management API',
      async () => {
        const res = await fetch(`${managementUrl}/api/overview`, { headers: { authorization: auth } });
        if (!res.ok) return false;
        version = ((await res.json()) as { rabbitmq_version: string }).rabbitmq_version;
        return true;
      },
      { timeoutMs: 90_000, process: proc, intervalMs: 250 },
    );
  };
  await boot();

  return {
    managementUrl,
    amqpUrl: `amqp://127.0.0.1:${p.amqp}`,
    username,
    password,
    nodeName,
    get version() {
      return version;
    },
    dir: hostDir,
    ports: p,
    async stop() {
      await proc?.stop(30_000);
    },
    async restart(opts) {
      await proc?.stop(30_000);
      if (opts?.wipe) rmSync(join(hostDir, 'mnesia'), { recursive: true, force: true });
      await boot();
    },
  };
}

/** The Debian package's version, e.g. 3.10.8, without starting anything. */
export function installedRabbitmqVersion(): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'rabbitmq-server']).toString();
  } catch {
    return 'unknown';
  }
}
