// The operator's settings, read from the environment once at start-up (docs/install.md "Configuration").
// A bad value stops the process with a message naming the variable, rather than running with a
// surprise (WARREN_CONCURRENCY=abc once started zero workers).
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { delimiter, join } from 'node:path';
import { z } from 'zod';
import { parseDuration } from './runtime/duration.ts';
import { checkLeaseTimings, DEFAULT_LEASE_TIMINGS, type LeaseTimings } from './runtime/leader.ts';
import { LOG_FORMATS, type LogFormat } from './runtime/log.ts';

/** The Lease replicas elect on. */
export const LEASE_NAME = 'warren-leader';
export const DEFAULT_HEALTH_PORT = 8081;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface Config {
  /** The namespaces to watch (WATCH_NAMESPACE, one or a comma-separated list); undefined for all. */
  namespaces?: string[];
  /** Host name of a Service, with {service} and {namespace} (WARREN_SERVICE_HOST). */
  serviceHost: string;
  concurrency: number;
  resyncMs: number;
  leaderElection: boolean;
  leaseNamespace: string;
  lease: LeaseTimings;
  identity: string;
  healthPort: number;
  healthHost: string;
  logLevel: (typeof LOG_LEVELS)[number];
  /** json (default) or text, for people (makeLogger reads LOG_FORMAT itself). */
  logFormat: LogFormat;
}

/** The configuration is wrong or names no cluster; `problems` has one line per variable. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[], headline = 'invalid configuration') {
    super(`${headline}: ${problems.join('; ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

// RFC 1123 label, as Kubernetes requires of namespace names.
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const wholeNumber = (min: number, max: number) =>
  z.string().transform((s, ctx) => {
    const n = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!(n >= min && n <= max)) {
      ctx.addIssue({ code: 'custom', message: `expected a whole number from ${min} to ${max}` });
      return z.NEVER;
    }
    return n;
  });

const duration = (minMs: number) =>
  z.string().transform((s, ctx) => {
    let ms: number;
    try {
      ms = parseDuration(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected a duration such as 500ms, 30s, 1m30s or 2h' });
      return z.NEVER;
    }
    if (ms < minMs) {
      ctx.addIssue({ code: 'custom', message: `expected a duration of at least ${minMs} ms` });
      return z.NEVER;
    }
    return ms;
  });

const namespaceName = z.string().refine((s) => LABEL.test(s), {
  message: 'expected a namespace name (lower-case letters, digits and -, at most 63 characters)',
});

// "a,b, c": each a namespace name, none twice.
const namespaceList = z.string().transform((s, ctx) => {
  const names = s.split(',').map((n) => n.trim());
  const bad = names.filter((n) => !LABEL.test(n));
  if (bad.length) {
    ctx.addIssue({
      code: 'custom',
      message: `expected namespace names separated by commas (lower-case letters, digits and -, at most 63 characters each); not: ${bad.map((b) => `'${b}'`).join(', ')}`,
    });
    return z.NEVER;
  }
  return [...new Set(names)];
});

const SERVICE_HOST_DEFAULT = '{service}.{namespace}.svc';

const bool = z
  .enum(['true', 'false'], { error: "expected 'true' or 'false'" })
  .transform((s) => s === 'true');

/** Unset and empty are the same (a Deployment's `value: ""`). */
const opt = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

export const envSchema = z.object({
  KUBECONFIG: opt(z.string()),
  WATCH_NAMESPACE: opt(namespaceList),
  WARREN_SERVICE_HOST: opt(
    z
      .string()
      .regex(/^[A-Za-z0-9.{}:[\]-]+$/, 'expected a host name template such as {service}.{namespace}.svc'),
  ),
  WARREN_CONCURRENCY: opt(wholeNumber(1, 1000)),
  WARREN_RESYNC: opt(duration(1000)),
  LEADER_ELECTION: opt(bool),
  LEADER_ELECTION_NAMESPACE: opt(namespaceName),
  POD_NAMESPACE: opt(namespaceName),
  POD_NAME: opt(z.string().max(128, 'expected at most 128 characters')),
  WARREN_LEASE_DURATION: opt(duration(1000)),
  WARREN_RENEW_DEADLINE: opt(duration(100)),
  WARREN_RETRY_PERIOD: opt(duration(10)),
  HEALTH_PORT: opt(wholeNumber(0, 65535)),
  HEALTH_HOST: opt(z.string()),
  LOG_LEVEL: opt(z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` })),
  LOG_FORMAT: opt(z.enum(LOG_FORMATS, { error: `expected one of ${LOG_FORMATS.join(', ')}` })),
});

const shown = (v: unknown) => {
  const s = String(v);
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
};

/** Parses the environment; throws ConfigError naming every bad variable. */
export function parseConfig(env: NodeJS.ProcessEnv): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0]);
        return `${name}=${shown(env[name])}: ${i.message}`;
      }),
    );
  }
  const e = parsed.data;
  const lease: LeaseTimings = {
    leaseDurationMs: e.WARREN_LEASE_DURATION ?? DEFAULT_LEASE_TIMINGS.leaseDurationMs,
    renewDeadlineMs: e.WARREN_RENEW_DEADLINE ?? DEFAULT_LEASE_TIMINGS.renewDeadlineMs,
    retryPeriodMs: e.WARREN_RETRY_PERIOD ?? DEFAULT_LEASE_TIMINGS.retryPeriodMs,
  };
  const unsafe = checkLeaseTimings(lease);
  if (unsafe) {
    throw new ConfigError([
      `WARREN_LEASE_DURATION, WARREN_RENEW_DEADLINE, WARREN_RETRY_PERIOD (${lease.leaseDurationMs}/${lease.renewDeadlineMs}/${lease.retryPeriodMs} ms): ${unsafe}`,
    ]);
  }
  return {
    namespaces: e.WATCH_NAMESPACE,
    serviceHost: e.WARREN_SERVICE_HOST ?? SERVICE_HOST_DEFAULT,
    concurrency: e.WARREN_CONCURRENCY ?? 16,
    resyncMs: e.WARREN_RESYNC ?? 10 * 60_000,
    leaderElection: e.LEADER_ELECTION ?? true,
    leaseNamespace: e.LEADER_ELECTION_NAMESPACE ?? e.POD_NAMESPACE ?? 'default',
    lease,
    // Unique per process: two processes on one host (or a pod restarted under its name while the
    // old process still runs) must never both believe they hold the lease.
    identity: `${(e.POD_NAME ?? hostname()).slice(0, 100)}_${randomBytes(4).toString('hex')}`,
    healthPort: e.HEALTH_PORT ?? DEFAULT_HEALTH_PORT,
    healthHost: e.HEALTH_HOST ?? '0.0.0.0',
    logLevel: e.LOG_LEVEL ?? 'info',
    logFormat: e.LOG_FORMAT ?? 'json',
  };
}

export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Where the cluster's address comes from, in the order client-node's loadFromDefault looks:
 * KUBECONFIG, ~/.kube/config, then the pod's service account. Without any of them client-node
 * falls back to http://localhost:8080 and the informers retry forever; stop instead.
 */
export function findCluster(
  env: NodeJS.ProcessEnv,
  exists: (path: string) => boolean = existsSync,
): { kubeconfig: string[] } | { inCluster: true } {
  if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter((f) => f);
    const missing = files.filter((f) => !exists(f));
    if (missing.length > 0) {
      throw new ConfigError([`KUBECONFIG=${shown(env.KUBECONFIG)}: no such file: ${missing.join(', ')}`]);
    }
    return { kubeconfig: files };
  }
  const home = env.HOME ? join(env.HOME, '.kube', 'config') : undefined;
  if (home && exists(home)) return { kubeconfig: [home] };
  const service = env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT;
  if (service && exists(SERVICE_ACCOUNT_TOKEN)) return { inCluster: true };
  const looked = [
    'KUBECONFIG is not set',
    home ? `${home} does not exist` : 'HOME is not set (no ~/.kube/config)',
    service
      ? `${SERVICE_ACCOUNT_TOKEN} does not exist`
      : `not in a pod (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT not set${exists(SERVICE_ACCOUNT_TOKEN) ? '' : `, no ${SERVICE_ACCOUNT_TOKEN}`})`,
  ];
  throw new ConfigError(looked, 'no Kubernetes cluster found');
}

/** The host name of a Service from the WARREN_SERVICE_HOST template. */
export const serviceHostFrom = (template: string) => (service: string, namespace: string) =>
  template.replaceAll('{service}', service).replaceAll('{namespace}', namespace);
