import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { startProcess, waitFor, type Managed } from './processes.ts';

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const PLUGINS = [
  'rabbitmq_management',
  'rabbitmq_shovel',
  'rabbitmq_shovel_management',
  'rabbitmq_federation',
  'rabbitmq_federation_management',
];

export interface BrokerPorts {
  amqp: number;
  management: number;
  dist: number;
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
 * Starts an isolated RabbitMQ node from the Debian package: its own HOME (Erlang cookie), node
 * name, ports, data and log directories and plugin list, beside any system broker.
 */
export async function startBroker(dir: string, ports?: BrokerPorts): Promise<Broker> {
  if (!rabbitmqInstalled()) {
    throw new Error(
      `${SERVER} not found: install the Debian package rabbitmq-server (apt-get install rabbitmq-server)`,
    );
  }
  mkdirSync(join(dir, 'home'), { recursive: true });
  const p: BrokerPorts = ports ?? {
    amqp: await freePort(),
    management: await freePort(),
    dist: await freePort(),
  };
  const nodeName = `warren-${p.amqp}@localhost`;
  const passwordFile = join(dir, 'admin-password');
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(12).toString('hex'));
  const password = readFileSync(passwordFile, 'utf8').trim();
  const username = 'warren-admin';
  writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.1 = 127.0.0.1:${p.amqp}`,
      'management.tcp.ip = 127.0.0.1',
      `management.tcp.port = ${p.management}`,
      // Quicker stats for tests; the operator itself reads with disable_stats.
      'collect_statistics_interval = 1000',
      '',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
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
    proc = startProcess('rabbitmq-server', SERVER, [], { env, logFile: join(dir, 'rabbitmq.log') });
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
    dir,
    ports: p,
    async stop() {
      await proc?.stop(30_000);
    },
    async restart(opts) {
      await proc?.stop(30_000);
      if (opts?.wipe) rmSync(join(dir, 'mnesia'), { recursive: true, force: true });
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
