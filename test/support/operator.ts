import { pino } from 'pino';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Operator } from '../../src/operator.ts';
import { KubeConfig } from '../../src/runtime/kubeconfig.ts';
import { makeMetrics, type Metrics } from '../../src/runtime/metrics.ts';
import type { TestContext } from './context.ts';
import { eventually } from './wait.ts';

export interface RunningOperator {
  operator: Operator;
  metrics: Metrics;
  /** startCaches(), then startControllers(): resolved once the caches synced and reconciling began. */
  started: Promise<void>;
  /** controller_runtime_reconcile_total for one controller, all results. */
  reconciles(controller: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Credentials Secret + RabbitBroker `name` in the test's namespace, pointing at the test broker
 * (or at a broker of the test's own, with its credentials).
 */
export async function createBroker(
  ctx: TestContext,
  name = 'local',
  endpoint = ctx.env.managementUrl,
  surveyInterval = '5s',
  credentials = { username: ctx.env.adminUser, password: ctx.env.adminPassword },
) {
  await ctx.core.createNamespacedSecret({
    namespace: ctx.namespace,
    body: { metadata: { name: `${name}-admin` }, stringData: credentials },
  });
  await ctx.create('rabbitbrokers', name, {
    endpoint,
    credentialsSecretRef: { name: `${name}-admin` },
    surveyInterval,
  });
}

/** The operator in this test process, watching only the test file's namespace. */
export async function startOperator(
  ctx: TestContext,
  opts: {
    resyncMs?: number;
    terminatingGraceMs?: number;
    /** Another kubeconfig (e.g. one through a fault-injecting proxy). */
    kubeconfigPath?: string;
    /** false: return at once, without waiting for the caches (see `started`). */
    waitForCaches?: boolean;
    /** 'brokers': start reconciling once the RabbitBrokers' cache synced, as src/main.ts does. */
    controllersAfter?: 'all' | 'brokers';
    /** Watch these namespaces instead of the test file's one. */
    namespaces?: string[];
    /** How a RabbitmqCluster's Service is addressed (default: as in a cluster). */
    serviceHost?: (service: string, namespace: string) => string;
    newWaitHoldMs?: number;
    retryBaseDelayMs?: number;
  } = {},
): Promise<RunningOperator> {
  const kc = KubeConfig.fromFile(opts.kubeconfigPath ?? ctx.env.kubeconfigPath);
  const log = pino(
    { level: process.env.WARREN_TEST_LOG_LEVEL ?? 'debug' },
    createWriteStream(join(ctx.env.dir, `operator-${ctx.namespace}.log`), { flags: 'a' }),
  );
  const metrics = makeMetrics();
  const operator = new Operator({
    metrics,
    kc,
    log,
    namespaces: opts.namespaces ?? [ctx.namespace],
    serviceHost: opts.serviceHost,
    concurrency: 4,
    resyncMs: opts.resyncMs ?? 60_000,
    terminatingGraceMs: opts.terminatingGraceMs,
    newWaitHoldMs: opts.newWaitHoldMs,
    retryBaseDelayMs: opts.retryBaseDelayMs,
    identity: `test-${ctx.namespace}`,
  });
  const started = operator
    .startCaches({ wait: opts.controllersAfter ?? 'all' })
    .then(() => operator.startControllers());
  if (opts.waitForCaches !== false) await started;
  const reconciles = async (controller: string) =>
    (await metrics.reconcileTotal.get()).values
      .filter((v) => v.labels.controller === controller)
      .reduce((sum, v) => sum + v.value, 0);
  return { operator, metrics, started, reconciles, stop: () => operator.stop() };
}

/**
 * Resolves once a survey of the RabbitBroker `broker` that started after now has ended: two
 * survey end times after now (the second survey started after the first ended). The status
 * carries whole seconds, so an end in the current second does not count.
 */
export async function aSurveyStartedNow(
  ctx: TestContext,
  broker = 'local',
  what = 'a survey started after now',
) {
  const now = Date.now();
  const ends = new Set<string>();
  await eventually(
    () => ctx.get('rabbitbrokers', broker),
    (b) => {
      const t = b.status?.lastSurveyTime ?? '';
      if (Date.parse(t) > now) ends.add(t);
      return ends.size >= 2;
    },
    { what, timeoutMs: 30_000, intervalMs: 200 },
  );
}
