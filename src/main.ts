import * as k8s from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { Operator } from './operator.ts';
import { parseDuration } from './runtime/duration.ts';
import { startHealthServer } from './runtime/health.ts';
import { LeaderElector } from './runtime/leader.ts';
import { makeLogger } from './runtime/log.ts';
import { makeMetrics } from './runtime/metrics.ts';

// Configuration comes from the environment (see README "Configuration").
const env = process.env;
const log = makeLogger(env.LOG_LEVEL);
const identity = env.POD_NAME ?? hostname();

async function main() {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const metrics = makeMetrics();
  const operator = new Operator({
    kc,
    log,
    namespace: env.WATCH_NAMESPACE || undefined,
    concurrency: Number(env.WARREN_CONCURRENCY ?? 4),
    resyncMs: parseDuration(env.WARREN_RESYNC ?? '10m'),
    identity,
    metrics,
  });
  const health = await startHealthServer({
    port: Number(env.HEALTH_PORT ?? 8081),
    host: env.HEALTH_HOST,
    ready: () => operator.ready,
    registry: metrics.registry,
  });
  log.info(
    { identity, namespace: env.WATCH_NAMESPACE || '(all)', cluster: kc.getCurrentCluster()?.server },
    'starting',
  );
  const election =
    env.LEADER_ELECTION === 'false'
      ? undefined
      : new LeaderElector({
          api: kc.makeApiClient(k8s.CoordinationV1Api),
          namespace: env.LEADER_ELECTION_NAMESPACE ?? env.POD_NAMESPACE ?? 'default',
          name: 'warren-leader',
          identity,
          log,
        });

  // Signals are handled from here on: startCaches() waits as long as the API server is unreachable.
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), 25_000).unref();
    log.info('shutting down');
    await operator.stop();
    await election?.release();
    health.close();
    log.flush();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));

  await operator.startCaches();

  if (election) {
    await election.acquire(() => void shutdown(1)); // lost leadership: exit, the Deployment restarts us
    metrics.leader.set(1);
  }
  operator.startControllers();
  log.info('reconciling');
}

process.on('unhandledRejection', (err) => {
  log.fatal({ err: String(err) }, 'unhandled rejection');
  process.exit(1);
});

main().catch((err) => {
  log.fatal({ err: err instanceof Error ? err.message : String(err) }, 'failed to start');
  process.exit(1);
});
