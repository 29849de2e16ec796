import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Names follow controller-runtime's so existing dashboards and alerts apply, and Prometheus'
// conventions: what counts up is a counter named `_total`, units in names (`_seconds`), labels at
// kind or broker granularity, never object names.
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
  let resources: () => Iterable<[kind: string, objects: Iterable<Counted>]> = () => [];
  // The clients count their requests; these counters follow at scrape time. A client made anew
  // (its RabbitBroker's spec changed) counts from zero again: what it counts is added, so the
  // counters never go down while the process lives.
  const seen = new Map<string, number>();
  const follow = (counter: Counter<string>, labels: Record<string, string>, value: number) => {
    const k = JSON.stringify(labels);
    const last = seen.get(k) ?? 0;
    const added = value >= last ? value - last : value;
    seen.set(k, value);
    if (added > 0) counter.inc(labels, added);
    else counter.inc(labels, 0); // present from the first scrape on, at its value
  };
  new Counter({
    name: 'warren_broker_requests_total',
    help: 'Management API requests made per broker and HTTP method',
    labelNames: ['broker', 'method'],
    registers: [registry],
    collect() {
      for (const [broker, stats] of source())
        for (const [method, n] of Object.entries(stats.byMethod)) follow(this, { broker, method }, n);
    },
  });
  new Counter({
    name: 'warren_broker_request_retries_total',
    help: 'Management API requests sent again after a reset on a stale keep-alive connection, per broker',
    labelNames: ['broker'],
    registers: [registry],
    collect() {
      for (const [broker, stats] of source()) follow(this, { broker }, stats.retries ?? 0);
    },
  });
  const brokerUp = new Gauge({
    name: 'warren_broker_up',
    help: "1 while warren's last probe of the broker's management API succeeded, 0 while it fails (unreachable, not trusted, refused)",
    labelNames: ['broker'],
    registers: [registry],
  });
  new Gauge({
    name: 'warren_resources',
    help: 'Resources in the watched namespaces per kind, by their Ready status and reason (ready "Unknown": no status yet)',
    labelNames: ['kind', 'ready', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, { kind: string; ready: string; reason: string; n: number }>();
      for (const [kind, objects] of resources()) {
        for (const o of objects) {
          const c = o.status?.conditions?.find((x) => x.type === 'Ready');
          const ready = c?.status ?? 'Unknown';
          const reason = c?.reason ?? 'NoStatus';
          const k = `${kind}|${ready}|${reason}`;
          const entry = counts.get(k) ?? { kind, ready, reason, n: 0 };
          entry.n++;
          counts.set(k, entry);
        }
      }
      for (const { n, ...labels } of counts.values()) this.set(labels, n);
    },
  });
  return {
    ...m,
    brokerUp,
    /** Reads broker request counts at scrape time. */
    observeBrokerRequests(fn: typeof source) {
      source = fn;
    },
    /** Reads the resources to count, per kind, at scrape time (from the informer caches). */
    observeResources(fn: typeof resources) {
      resources = fn;
    },
  };
}

/** What warren_resources reads of a resource. */
interface Counted {
  status?: { conditions?: Array<{ type: string; status: string; reason: string }> };
}
export type Metrics = ReturnType<typeof makeMetrics>;
