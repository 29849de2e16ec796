import type { Logger } from 'pino';
import { Reasons } from '../api/common.ts';
import type { Outcome, ReconcileContext } from '../runtime/controller.ts';
import { isReady } from '../runtime/conditions.ts';
import { parseDuration } from '../runtime/duration.ts';
import type { Recorder } from '../runtime/events.ts';
import type { Kube } from '../runtime/kube.ts';
import type { BrokerRegistry, BrokerResource } from './brokers.ts';
import type { DependencyIndex } from './dependencies.ts';
import { writeStatus } from './status.ts';
import { classify, splitKey } from './topology.ts';
import type { Metrics } from '../runtime/metrics.ts';
import type { Surveyor } from './survey.ts';
import { depKeys } from './types.ts';

/**
 * RabbitBroker: checks the management API answers with the given credentials and reports the
 * broker's version and cluster name. It holds no finalizer: there is nothing to clean up in the
 * broker, and its disappearance is what releases its dependents' finalizers.
 */
export class BrokerReconciler {
  private readonly d: {
    kube: Kube;
    recorder: Recorder;
    registry: BrokerRegistry;
    deps: DependencyIndex;
    get: (namespace: string, name: string) => BrokerResource | undefined;
    notify: (dep: string) => void;
    surveyor: Surveyor;
    metrics?: Metrics;
  };

  constructor(d: BrokerReconciler['d']) {
    this.d = d;
  }

  async reconcile(key: string, rc: ReconcileContext): Promise<Outcome> {
    const [namespace, name] = splitKey(key);
    const cached = this.d.get(namespace, name);
    const depKey = `rabbitbrokers|${key}`;
    if (!cached || cached.metadata.deletionTimestamp) {
      this.d.registry.forget(key);
      this.d.surveyor.forget(key);
      this.d.deps.clear(depKey);
      this.d.notify(depKeys.broker(key));
      return;
    }
    const r = structuredClone(cached);
    const log: Logger = rc.log;
    const depSet = new Set<string>();
    const interval = parseDuration(r.spec.surveyInterval ?? '30s');
    const wasReady = isReady(r as never);
    try {
      const client = await this.d.registry.clientFor(key, r, depSet);
      const overview = await client.overview();
      if (r.status?.rabbitmqVersion && r.status.rabbitmqVersion !== overview.rabbitmq_version)
        client.resetCapabilities();
      const back = this.d.registry.markUp(key);
      if (back) log.info('broker reachable again');
      const survey = await this.d.surveyor.survey(key, client);
      this.d.metrics?.surveyDuration.observe({ broker: key }, survey.durationMs / 1000);
      this.d.metrics?.driftFound.inc({ broker: key }, survey.drifted);
      this.d.metrics?.unmanagedObjects.set({ broker: key }, survey.unmanaged);
      await writeStatus(this.d.kube, this.d.recorder, 'rabbitbrokers', r, {
        ready: true,
        reason: Reasons.Reconciled,
        message: `RabbitMQ ${overview.rabbitmq_version} at ${overview.node}`,
        applied: true,
        extra: {
          rabbitmqVersion: overview.rabbitmq_version,
          clusterName: overview.cluster_name,
          lastSurveyTime: survey.lastSurveyTime,
          survey,
        },
      });
      if (survey.resetDetected) {
        await this.d.recorder.emit(
          r,
          'Warning',
          'BrokerReset',
          'Survey',
          'the broker lost its definitions or was replaced: re-declaring everything',
        );
      }
      // Dependents waiting on this broker (first contact, or the end of an outage) go now.
      if (!wasReady || back) this.d.notify(depKeys.broker(key));
      return { requeueAfterMs: interval };
    } catch (err) {
      const f = classify(err);
      if (!f) throw err;
      if (f.reason === Reasons.BrokerUnreachable && this.d.registry.markDown(key, f.message)) {
        // Every dependent learns of the outage now and then fails fast until the probe sees the broker back.
        this.d.notify(depKeys.broker(key));
      }
      log.info({ reason: f.reason, msg: f.message }, 'broker not ready');
      await writeStatus(this.d.kube, this.d.recorder, 'rabbitbrokers', r, {
        ready: false,
        reason: f.reason,
        message: f.message,
      });
      // Check again on the survey interval at most, never faster than the backoff allows.
      return f.reason === Reasons.BrokerUnreachable
        ? { requeueAfterMs: Math.min(interval, 5_000) }
        : f.outcome;
    } finally {
      this.d.deps.set(depKey, depSet);
    }
  }
}
