import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Names follow controller-runtime's so existing dashboards and alerts apply. Labels stay at kind
// granularity: never object names.
export function makeMetrics() {
  const registry = new Registry();
  // The event loop lag is sampled every 200 ms, not prom-client's 10 ms: at 10 ms its timer woke an
  // idle operator some 200 times a second, most of warren's idle CPU.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 200 });
  const m = {
    registry,
    reconcileTotal: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Reconciliations per controller and result',
      labelNames: ['controller', 'result'],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Reconciliations that failed',
      labelNames: ['controller'],
      registers: [registry],
    }),
    reconcileTime: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Time per reconciliation',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'workqueue_depth',
      help: 'Keys waiting in the work queue',
      labelNames: ['name'],
      registers: [registry],
    }),
    queueRetries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Rate-limited requeues',
      labelNames: ['name'],
      registers: [registry],
    }),
    kubeRequests: new Counter({
      name: 'warren_kube_requests_total',
      help: 'Kubernetes API requests per verb',
      labelNames: ['verb'],
      registers: [registry],
    }),
    informerRestarts: new Counter({
      name: 'warren_informer_restarts_total',
      help: 'Informer restarts after watch or list errors',
      labelNames: ['informer'],
      registers: [registry],
    }),
    leader: new Gauge({ name: 'warren_leader', help: '1 while this replica leads', registers: [registry] }),
    surveyDuration: new Histogram({
      name: 'warren_survey_duration_seconds',
      help: 'Time per drift survey of a broker',
      labelNames: ['broker'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    surveyFailures: new Counter({
      name: 'warren_survey_failures_total',
      help: 'Drift surveys that failed (the broker itself may still be reachable)',
      labelNames: ['broker'],
      registers: [registry],
    }),
    driftFound: new Counter({
      name: 'warren_drift_found_total',
      help: 'Broker objects a survey found missing or changed (queued for repair)',
      labelNames: ['broker'],
      registers: [registry],
    }),
    unmanagedObjects: new Gauge({
      name: 'warren_unmanaged_objects',
      help: 'Broker objects no resource declares, as of the last survey',
      labelNames: ['broker'],
      registers: [registry],
    }),
  };
  let source: () => Map<string, { byMethod: Record<string, number>; retries?: number }> = () => new Map();
  new Gauge({
    name: 'warren_broker_requests',
    help: 'Management API requests made per broker and HTTP method since start',
    labelNames: ['broker', 'method'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [broker, stats] of source()) {
        for (const [method, n] of Object.entries(stats.byMethod)) this.set({ broker, method }, n);
      }
    },
  });
  new Gauge({
    name: 'warren_broker_request_retries',
    help: 'Management API requests sent again after a reset on a stale keep-alive connection, per broker',
    labelNames: ['broker'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [broker, stats] of source()) this.set({ broker }, stats.retries ?? 0);
    },
  });
  return {
    ...m,
    /** Reads broker request counts at scrape time. */
    observeBrokerRequests(fn: typeof source) {
      source = fn;
    },
  };
}
export type Metrics = ReturnType<typeof makeMetrics>;
