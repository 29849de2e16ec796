import { ConfigError, findCluster, LEASE_NAME, parseConfig, serviceHostFrom, type Config } from './config.ts';
import { Operator } from './operator.ts';
import { startHealthServer } from './runtime/health.ts';
import { Kube } from './runtime/kube.ts';
import { KubeConfig } from './runtime/kubeconfig.ts';
import { leaseApi, LeaderElector } from './runtime/leader.ts';
import { makeLogger } from './runtime/log.ts';
import { makeMetrics } from './runtime/metrics.ts';

// Configuration comes from the environment (see docs/install.md "Configuration"), checked once here:
// a bad value or no cluster at all stops the process with exit code 2.
function configure(): Config {
  try {
    const config = parseConfig(process.env);
    findCluster(process.env);
    return config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    makeLogger('info').fatal({ problems: err.problems }, err.message);
    process.exit(2);
  }
}

const config = configure();
const log = makeLogger(config.logLevel);

async function main() {
  const kc = KubeConfig.load();
  const metrics = makeMetrics();
  const { identity } = config;
  const election = config.leaderElection
    ? new LeaderElector({
        // Lease requests are never fenced: they are how leadership is known.
        api: leaseApi(new Kube(kc)),
        namespace: config.leaseNamespace,
        name: LEASE_NAME,
        identity,
        log,
        ...config.lease,
      })
    : undefined;
  const operator = new Operator({
    kc,
    log,
    namespaces: config.namespaces,
    serviceHost: serviceHostFrom(config.serviceHost),
    concurrency: config.concurrency,
    resyncMs: config.resyncMs,
    identity,
    metrics,
    // Fencing: nothing is written unless this replica certainly holds the lease.
    canWrite: election && (() => election.canWrite()),
    writeSignal: election && (() => election.leadership),
  });
  const health = await startHealthServer({
    port: config.healthPort,
    host: config.healthHost,
    ready: () => operator.ready,
    registry: metrics.registry,
  });
  log.info(
    {
      identity,
      namespaces: config.namespaces?.join(',') ?? '(all)',
      cluster: kc.server,
    },
    'starting',
  );

  // Signals are handled from here on: startCaches() waits as long as the API server is unreachable.
  let stopping = false;
  // graceMs bounds the wait for reconciles in flight (SIGTERM: inside the pod's 30 s grace period).
  const shutdown = async (code: number, graceMs = 25_000) => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(code || 1), graceMs).unref();
    log.info('shutting down');
    // Reconciles in flight finish while we still hold the lease; then a standby may take over.
    await operator.stop();
    await election?.release();
    health.close();
    log.flush();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));

  // Each kind's reconciles wait for its own caches: the leader need not wait for all of them.
  await operator.startCaches({ wait: 'brokers' });
  if (stopping) return;
  if (election) {
    const leading = await election.acquire(() => {
      // Lost (or could not renew in time): stop at once; writes already in flight are fenced.
      operator.stopReconciling();
      metrics.leader.set(0);
      log.error('stopped reconciling');
      // Their writes are refused now, so there is little to wait for; the pod restarts as a standby.
      void shutdown(1, 5_000);
    });
    if (!leading || stopping) return; // stopped while waiting: never start the controllers
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
