// The JSON of `rabbitmqctl export_definitions`, the management UI's "Download broker definitions"
// and GET /api/definitions. Its shape moved between versions (3.10 exports a vhost as its name
// only; 3.11+ add description, tags and metadata; 4.x puts limits on the vhost), so the readers
// here accept every form and the kinds' adapters see one.
import { readFileSync } from 'node:fs';
import { normalizeTags } from '../rabbitmq/index.ts';

type Entry = Record<string, any>;

export interface Definitions {
  rabbitmq_version?: string;
  rabbit_version?: string;
  users?: Entry[];
  vhosts?: Entry[];
  permissions?: Entry[];
  topic_permissions?: Entry[];
  parameters?: Array<{ vhost: string; component: string; name: string; value: any }>;
  global_parameters?: Entry[];
  policies?: Entry[];
  queues?: Entry[];
  exchanges?: Entry[];
  bindings?: Entry[];
}

const SECTIONS = ['users', 'vhosts', 'permissions', 'queues', 'exchanges', 'bindings', 'policies'];

/** Parses a definitions document; '-' reads standard input. */
export function readDefinitions(path: string): Definitions {
  const text = readFileSync(path === '-' ? 0 : path, 'utf8');
  let defs: unknown;
  try {
    defs = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not JSON (${(err as Error).message})`, { cause: err });
  }
  return checkDefinitions(defs, path);
}

export function checkDefinitions(defs: unknown, what: string): Definitions {
  if (!defs || typeof defs !== 'object' || !SECTIONS.some((s) => s in defs)) {
    throw new Error(`${what}: not a RabbitMQ definitions document (no users, vhosts, queues, ...)`);
  }
  const d = defs as Definitions;
  // Some versions write a runtime parameter's value (an operator policy's, with its definition)
  // as a list of [key, value] pairs rather than an object; the broker reads both the same.
  for (const p of d.parameters ?? []) {
    p.value = fromPairs(p.value);
    if (p.value && typeof p.value === 'object' && 'definition' in p.value)
      p.value.definition = fromPairs(p.value.definition);
  }
  for (const p of d.policies ?? []) p.definition = fromPairs(p.definition);
  for (const v of d.vhosts ?? []) if (v.limits !== undefined) v.limits = fromPairs(v.limits);
  // A vhost's own export (GET /api/definitions/{vhost}) leaves the vhost out of every entry.
  for (const s of ['queues', 'exchanges', 'bindings', 'policies', 'permissions'] as const) {
    if (d[s]?.some((e) => typeof e.vhost !== 'string')) {
      throw new Error(
        `${what}: ${s} without a vhost: this looks like one vhost's export; use the broker-wide one (rabbitmqctl export_definitions, GET /api/definitions)`,
      );
    }
  }
  return d;
}

/** [[key, value], ...] as {key: value}; anything else as it is. */
export function fromPairs(v: unknown): any {
  const pair = (x: unknown) => Array.isArray(x) && x.length === 2 && typeof x[0] === 'string';
  return Array.isArray(v) && v.length && v.every(pair)
    ? Object.fromEntries(v as Array<[string, unknown]>)
    : v;
}

/**
 * The algorithm of a password hash that names none: RabbitMQ's import reads hashes from 3.5 and
 * before as MD5 (they had no other), 3.6.0's and every later one's as the node's default, SHA-256
 * (rabbit_auth_backend_internal:hashing_algorithm/2).
 */
export function hashingAlgorithmOf(u: Entry, defs: Definitions): string {
  if (typeof u.hashing_algorithm === 'string' && u.hashing_algorithm) return u.hashing_algorithm;
  const version = defs.rabbit_version ?? defs.rabbitmq_version ?? '';
  return /^3\.[0-5]\./.test(version) ? 'rabbit_password_hashing_md5' : 'rabbit_password_hashing_sha256';
}

/** The vhost's metadata, wherever this version put it. */
export function vhostMetadata(v: Entry): {
  description: string;
  tags: string[];
  defaultQueueType?: string;
  protectedFromDeletion: boolean;
} {
  const m = v.metadata ?? {};
  const dqt = v.default_queue_type ?? m.default_queue_type;
  return {
    description: v.description ?? m.description ?? '',
    tags: normalizeTags(v.tags ?? m.tags),
    defaultQueueType: typeof dqt === 'string' && dqt !== 'undefined' ? dqt : undefined,
    // 4.1+ (definitions carry it from 4.2).
    protectedFromDeletion: (v.protected_from_deletion ?? m.protected_from_deletion) === true,
  };
}

/** Runtime parameters of one component (vhost-limits, operator_policy, shovel, ...). */
export const parametersOf = (defs: Definitions, component: string) =>
  (defs.parameters ?? []).filter((p) => p.component === component);
