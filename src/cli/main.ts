#!/usr/bin/env node
// The `warren` command: export a broker's topology as manifests, and show what warren would change.
import * as k8s from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { redact } from '../rabbitmq/errors.ts';
import { ManagementClient } from '../rabbitmq/index.ts';
import { readDefinitions } from './definitions.ts';
import { diff, hasChanges, renderTable, vhostsOf } from './diff.ts';
import { buildExport, writeExport, type ExportResult, type KindExport } from './export.ts';
import { inventoryFromDefinitions, readBroker } from './inventory.ts';
import { CLI_KINDS, kindWord } from './kinds/index.ts';
import { loadCluster, loadFiles, type Loaded } from './manifests.ts';
import { secretsOf, shownUrl } from './redaction.ts';
import { glob, type Selection } from './select.ts';
import type { Inventory } from './types.ts';

const ENV = {
  url: 'RABBITMQ_MANAGEMENT_URL',
  username: 'RABBITMQ_ADMIN_USER',
  password: 'RABBITMQ_ADMIN_PASSWORD',
};

const HELP = `warren: bring a RabbitMQ broker's topology under warren's management

Usage:
  warren export [broker | --definitions FILE] [--dir DIR] [selection] [manifest options]
  warren diff   [broker] (PATH... | --cluster [-n NAMESPACE | -A]) [--output table|json]
  warren help | --version

Broker (read only: warren never writes to it):
  --url URL               management API, e.g. http://rabbit:15672 (env ${ENV.url})
  --username NAME         (env ${ENV.username})
  --password PASSWORD     (env ${ENV.password}; prefer the environment: flags show in ps)
  --ca-file FILE          CA bundle for an https management listener
  --insecure-skip-verify  do not verify the listener's certificate

export:
  --definitions FILE, -f  read a definitions file (rabbitmqctl export_definitions, the management
                          UI's download, GET /api/definitions) instead of a broker; - is stdin
  --dir DIR, -d           where the manifests go (default warren-export); one file per kind
                          and a kustomization.yaml
  --credentials-dir DIR   where the credentials Secrets go (default DIR-credentials): users'
                          password hashes, shovels' and federation upstreams' URIs
  --no-credentials        write no Secrets: the resources name Secrets you create
  --force                 replace the YAML files of existing directories
  --broker-ref NAME       the RabbitBroker the manifests use (default local)
  --namespace, -n NS      set the manifests' namespace
  --deletion-policy P     Retain (default: deleting a resource keeps the broker object) or Delete

selection (export, and diff's list of objects no resource declares):
  --vhost GLOB            only these vhosts (repeatable); default: all but '/' (--vhost / asks for it)
  --include [KIND:]GLOB   only objects matching (repeatable; per kind when KIND is given)
  --exclude [KIND:]GLOB   leave out objects matching (repeatable)
                          KIND: ${CLI_KINDS.map((k) => kindWord(k)).join(', ')}
                          GLOB: * any characters, ? one character; matched against broker names
                          (permissions: the user; bindings: source and destination)
  The user warren connects as (--username) and guest are left out unless --include user:NAME.

diff:
  PATH...                 manifest files or directories (as kubectl apply would send them;
                          give the credentials directory too to compare passwords)
  --cluster               compare the resources in the cluster (current kubeconfig) instead
  --namespace, -n NS      namespace of the resources (files without one; the cluster's to read)
  --all-namespaces, -A    every namespace (--cluster)
  --broker-ref NAME       only resources using this RabbitBroker
  --output, -o FORMAT     table (default) or json
  Actions: create, change, unchanged; refused (the broker cannot change that field of an
  existing queue or exchange: delete and re-create it); conflict (another resource owns the
  object); invalid (the API server would refuse the manifest: its CRD's schema, unknown fields
  and CEL rules, checked offline).
  Exit status: 0 nothing to change, 1 something to create, change, or that cannot be applied
  (refused, conflict, invalid), 2 an error.
`;

const BROKER_OPTIONS = {
  url: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  'ca-file': { type: 'string' },
  'insecure-skip-verify': { type: 'boolean' },
  vhost: { type: 'string', multiple: true },
  include: { type: 'string', multiple: true },
  exclude: { type: 'string', multiple: true },
  'broker-ref': { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

const EXPORT_OPTIONS = {
  ...BROKER_OPTIONS,
  definitions: { type: 'string', short: 'f' },
  dir: { type: 'string', short: 'd' },
  'credentials-dir': { type: 'string' },
  'no-credentials': { type: 'boolean' },
  force: { type: 'boolean' },
  'deletion-policy': { type: 'string' },
} satisfies ParseArgsConfig['options'];

const DIFF_OPTIONS = {
  ...BROKER_OPTIONS,
  cluster: { type: 'boolean' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o' },
} satisfies ParseArgsConfig['options'];

/** A mistake in the command line: the message and exit code 2, no stack. */
class UsageError extends Error {}

interface Out {
  out(s: string): void;
  err(s: string): void;
}

type BrokerFlags = {
  url?: string;
  username?: string;
  password?: string;
  'ca-file'?: string;
  'insecure-skip-verify'?: boolean;
};

function connect(v: BrokerFlags, env: NodeJS.ProcessEnv): { client: ManagementClient; url: string } {
  const url = v.url ?? env[ENV.url];
  const username = v.username ?? env[ENV.username];
  const password = v.password ?? env[ENV.password];
  if (!url) throw new UsageError(`no broker: give --url or set ${ENV.url}`);
  if (!username || password === undefined)
    throw new UsageError(
      `no credentials: give --username and --password, or set ${ENV.username} and ${ENV.password}`,
    );
  let client: ManagementClient;
  try {
    client = new ManagementClient({
      endpoint: url,
      username,
      password,
      https: {
        ca: v['ca-file'] ? readFileSync(v['ca-file'], 'utf8') : undefined,
        rejectUnauthorized: !v['insecure-skip-verify'],
      },
      // Reads only: a write would be a bug, and is refused before it leaves.
      canWrite: () => false,
    });
  } catch (err) {
    // The URL as given may hold a password (the client refuses it), or not parse because of one.
    throw new UsageError(`--url ${shownUrl(url)}: ${(err as Error).message}`);
  }
  return { client, url };
}

function selection(
  v: { vhost?: string[]; include?: string[]; exclude?: string[] },
  ownUser?: string,
): Selection {
  return {
    vhosts: v.vhost ?? [],
    include: v.include ?? [],
    exclude: v.exclude ?? [],
    ownUsers: [...new Set([ownUser, 'guest'].filter((u): u is string => !!u))],
  };
}

/** Vhost-wide tables are read only for the vhosts that can be selected. */
const vhostFilter = (sel: Selection) => {
  if (!sel.vhosts.length) return () => true;
  const globs = sel.vhosts.map(glob);
  return (v: string) => globs.some((re) => re.test(v));
};

async function exportCommand(args: string[], env: NodeJS.ProcessEnv, io: Out): Promise<number> {
  const { values: v, positionals } = parseArgs({ args, options: EXPORT_OPTIONS, allowPositionals: false });
  if (v.help) return (io.out(HELP), 0);
  void positionals;
  const policy = v['deletion-policy'] ?? 'Retain';
  if (policy !== 'Retain' && policy !== 'Delete')
    throw new UsageError(`--deletion-policy must be Retain or Delete, not '${policy}'`);
  const sel = selection(v, v.username ?? env[ENV.username]);
  let inv: Inventory;
  if (v.definitions) {
    if (v.url) throw new UsageError('give either --definitions or --url, not both');
    const source = v.definitions === '-' ? 'standard input' : v.definitions;
    inv = inventoryFromDefinitions(readDefinitions(v.definitions), CLI_KINDS, `file ${source}`);
  } else {
    const { client, url } = connect(v, env);
    try {
      inv = await readBroker(client, CLI_KINDS, `broker ${url}`, vhostFilter(sel));
    } finally {
      await client.close();
    }
  }
  const dir = v.dir ?? 'warren-export';
  const result = buildExport(inv, CLI_KINDS, {
    ...sel,
    brokerRef: v['broker-ref'] ?? 'local',
    namespace: v.namespace,
    deletionPolicy: policy,
  });
  const credentialsDir = v['no-credentials']
    ? undefined
    : (v['credentials-dir'] ?? `${dir.replace(/\/+$/, '')}-credentials`);
  writeExport(result, dir, { credentialsDir, force: !!v.force, namespace: v.namespace });
  io.err(summary(result, inv.source, dir, credentialsDir));
  return 0;
}

function summary(res: ExportResult, source: string, dir: string, credentialsDir: string | undefined): string {
  const lines = [`exported from ${source} to ${dir}/ (apply with: kubectl apply -k ${dir})`];
  const width = Math.max(22, ...res.kinds.map((k) => k.cli.kind.def.kind.length));
  for (const k of res.kinds)
    lines.push(`  ${k.cli.kind.def.kind.padEnd(width)} ${String(k.manifests.length).padStart(5)}  ${k.file}`);
  if (!res.kinds.length) lines.push('  nothing');
  const withSecrets = res.kinds.filter((k) => k.secrets.length);
  if (withSecrets.length) {
    const help = (k: KindExport) => k.cli.credentialsHelp ?? { noun: 'credentials', keys: '' };
    lines.push(
      credentialsDir
        ? `${res.secrets.length} credentials Secrets (${withSecrets.map((k) => `${k.secrets.length} ${help(k).noun}`).join(', ')}) in ${credentialsDir}/: keep them out of version control (seal them, or move them to a secret store), then kubectl apply -k ${credentialsDir}`
        : `--no-credentials: create these Secrets before applying: ${withSecrets.map((k) => `${k.secrets.map((s) => s.metadata.name).join(', ')} (${help(k).keys})`).join('; ')}`,
    );
  }
  if (res.left.length) {
    lines.push(`left out: ${res.left.length}`);
    for (const l of res.left.slice(0, 25)) lines.push(`  ${l.c.describe}: ${l.reason}`);
    if (res.left.length > 25) lines.push(`  ... and ${res.left.length - 25} more`);
  }
  return lines.join('\n') + '\n';
}

async function diffCommand(args: string[], env: NodeJS.ProcessEnv, io: Out): Promise<number> {
  const { values: v, positionals } = parseArgs({ args, options: DIFF_OPTIONS, allowPositionals: true });
  if (v.help) return (io.out(HELP), 0);
  const output = v.output ?? 'table';
  if (output !== 'table' && output !== 'json')
    throw new UsageError(`--output must be table or json, not '${output}'`);
  if (!!v.cluster === !!positionals.length)
    throw new UsageError('give manifest files or directories, or --cluster (one of the two)');
  if (v['all-namespaces'] && !v.cluster) throw new UsageError('--all-namespaces goes with --cluster');
  const sel = selection(v, v.username ?? env[ENV.username]);
  const { client, url } = connect(v, env);
  let loaded: Loaded;
  let inv: Inventory;
  try {
    if (v.cluster) {
      const kc = new k8s.KubeConfig();
      kc.loadFromDefault();
      const namespace = v['all-namespaces']
        ? undefined
        : (v.namespace ?? kc.getContextObject(kc.currentContext)?.namespace ?? 'default');
      loaded = await loadCluster(kc, CLI_KINDS, namespace);
    } else {
      loaded = loadFiles(positionals, CLI_KINDS, v.namespace ?? 'default');
    }
    // Resources of other brokers are not about this one.
    const brokerRef = v['broker-ref'];
    if (brokerRef)
      loaded.resources = loaded.resources.filter(({ r }) => r.spec?.brokerRef?.name === brokerRef);
    // Inside vhosts, only what the resources touch and --vhost selects is read.
    const touched = vhostsOf(loaded);
    const selected = vhostFilter(sel);
    inv = await readBroker(client, CLI_KINDS, `broker ${url}`, (vh) => touched.has(vh) || selected(vh));
  } finally {
    await client.close();
  }
  const report = diff(loaded, inv, CLI_KINDS, sel);
  io.out(output === 'json' ? JSON.stringify(report, null, 2) + '\n' : renderTable(report));
  return hasChanges(report) ? 1 : 0;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8'));
  return `warren ${pkg.version}`;
}

/** Runs a command line; returns the exit status. */
export async function run(argv: string[], env = process.env, io: Out = stdio): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'export':
        return await exportCommand(rest, env, io);
      case 'diff':
        return await diffCommand(rest, env, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(HELP);
        return command === undefined ? 2 : 0;
      case '--version':
      case 'version':
        io.out(version() + '\n');
        return 0;
      default:
        throw new UsageError(`unknown command '${command}' (export, diff, help)`);
    }
  } catch (err) {
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    const message = err instanceof Error ? err.message : String(err);
    // Whatever failed (the client, undici, URL parsing, a kubeconfig), no password is printed.
    const line = `warren ${command ?? ''}: ${message}${usage ? ' (warren help)' : ''}`;
    io.err(redact(line, secretsOf(rest, env, ENV)) + '\n');
    return 2;
  }
}

const stdio: Out = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

if (import.meta.main) process.exitCode = await run(process.argv.slice(2));
