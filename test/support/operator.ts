import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Operator } from '../../src/operator.ts';
import type { TestContext } from './context.ts';

export interface RunningOperator {
  operator: Operator;
  stop(): Promise<void>;
}

/** Credentials Secret + RabbitBroker `name` in the test's namespace, pointing at the test broker. */
export async function createBroker(ctx: TestContext, name = 'local', endpoint = ctx.env.managementUrl) {
  await ctx.core.createNamespacedSecret({
    namespace: ctx.namespace,
    body: {
      metadata: { name: `${name}-admin` },
      stringData: { username: ctx.env.adminUser, password: ctx.env.adminPassword },
    },
  });
  await ctx.create('rabbitbrokers', name, {
    endpoint,
    credentialsSecretRef: { name: `${name}-admin` },
    surveyInterval: '2s',
  });
}

/** The operator in this test process, watching only the test file's namespace. */
export async function startOperator(
  ctx: TestContext,
  opts: { resyncMs?: number } = {},
): Promise<RunningOperator> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(ctx.env.kubeconfigPath);
  const log = pino(
    { level: process.env.WARREN_TEST_LOG_LEVEL ?? 'debug' },
    createWriteStream(join(ctx.env.dir, `operator-${ctx.namespace}.log`), { flags: 'a' }),
  );
  const operator = new Operator({
    kc,
    log,
    namespace: ctx.namespace,
    concurrency: 4,
    resyncMs: opts.resyncMs ?? 60_000,
    identity: `test-${ctx.namespace}`,
  });
  await operator.startCaches();
  operator.startControllers();
  return { operator, stop: () => operator.stop() };
}
