import type { Logger } from 'pino';
import { Reasons } from '../api/common.ts';
import type { Outcome, ReconcileContext } from '../runtime/controller.ts';
import { isReady } from '../runtime/conditions.ts';
import { parseDuration } from '../runtime/duration.ts';
import type { Recorder } from '../runtime/events.ts';
import type { Kube } from '../runtime/kube.ts';
import type { Metrics } from '../runtime/metrics.ts';
import type { BrokerRegistry, BrokerResource } from './brokers.ts';
import type { DependencyIndex } from './dependencies.ts';
import { splitNsName } from './keys.ts';
import { writeStatus } from './status.ts';
import type { SurveyResult, Surveyor } from './survey.ts';
import { classify } from './topology.ts';
import { depKeys } from './types.ts';

// A dependent's failed request asks for a probe; more asks within this window share one.
const PROBE_COALESCE_MS = 2000;

/**
 * RabbitBroker: a cheap probe (the overview) decides whether the broker is reachable and reports
 * its version; the drift survey runs when due, and its failure (a slow queue list, a timeout) is
 * its own condition and metric: it never marks the broker down or touches dependents. It holds no
 * finalizer: there is nothing to clean up in the broker, and its disappearance is what releases
 * its dependents' finalizers.
 */
export class BrokerReconciler {
  private readonly d: {
    kube: Kube;
    recorder: Recorder;
    registry: BrokerRegistry;
    deps: DependencyIndex;
    get: (namespace: string, name: string) => BrokerResource | undefined;
    notify: (dep: string) => void;
    enqueue: (key: string) => void;
    surveyor: Surveyor;
    metrics?: Metrics;
  };
  private readonly lastProbe = new Map<string, number>();
  private readonly lastSurvey = new Map<string, number>();
  /** Brokers warned about insecureSkipVerify, at which generation. */
  private readonly warnedInsecure = new Map<string, number | undefined>();

  constructor(d: BrokerReconciler['d']) {
    this.d = d;
  }

  /** A dependent found the broker unreachable: probe it soon, unless a probe just ran. */
  probeSoon(key: string): void {
    if (Date.now() - (this.lastProbe.get(key) ?? 0) < PROBE_COALESCE_MS) return;
    this.lastProbe.set(key, Date.now());
    this.d.enqueue(key);
  }

  async reconcile(key: string, rc: ReconcileContext): Promise<Outcome> {
    const [namespace, name] = splitNsName(key);
    const cached = this.d.get(namespace, name);
    const depKey = `rabbitbrokers|${key}`;
    if (!cached || cached.metadata.deletionTimestamp) {
      this.d.registry.forget(key);
      this.d.metrics?.brokerUp.remove({ broker: key });
      this.d.surveyor.forget(key);
      this.lastProbe.delete(key);
      this.lastSurvey.delete(key);
      this.warnedInsecure.delete(key);
      this.d.deps.clear(depKey);
      this.d.notify(depKeys.broker(key));
      return;
    }
    const r = structuredClone(cached);
    const log: Logger = rc.log;
    const depSet = new Set<string>();
    const interval = parseDuration(r.spec.surveyInterval ?? '30s');
    const wasReady = isReady(r as never);
    const specChanged = r.status?.observedGeneration !== r.metadata.generation;
    this.lastProbe.set(key, Date.now());
    try {
      const client = await this.d.registry.clientFor(key, r, depSet);
      const insecure = this.d.registry.insecure(key);
      if (!insecure) this.warnedInsecure.delete(key);
      else if (this.warnedInsecure.get(key) !== r.metadata.generation) {
        this.warnedInsecure.set(key, r.metadata.generation);
        await this.d.recorder.emit(
          r,
          'Warning',
          'InsecureSkipVerify',
          'Connect',
          `spec.tls.insecureSkipVerify is on: the certificate of ${client.endpoint} is not verified, anyone in the path can read the broker's credentials`,
        );
      }
      const overview = await client.overview();
      const upgraded = !!r.status?.rabbitmqVersion && r.status.rabbitmqVersion !== overview.rabbitmq_version;
      if (upgraded) client.resetCapabilities();
      const back = this.d.registry.markUp(key);
      this.d.metrics?.brokerUp.set({ broker: key }, 1);
      if (back) log.info('broker reachable again');

      const since = Date.now() - (this.lastSurvey.get(key) ?? 0);
      const due =
        since >= interval || back || upgraded || r.status?.observedGeneration !== r.metadata.generation;
      let survey: SurveyResult | undefined;
      let surveyError: string | undefined;
      if (due) {
        this.lastSurvey.set(key, Date.now());
        try {
          survey = await this.d.surveyor.survey(key, client, r.metadata.generation);
        } catch (err) {
          surveyError = err instanceof Error ? err.message : String(err);
          this.d.metrics?.surveyFailures.inc({ broker: key });
          log.warn({ err: surveyError }, 'survey failed');
        }
      }
      if (survey) {
        this.d.metrics?.surveyDuration.observe({ broker: key }, survey.durationMs / 1000);
        this.d.metrics?.driftFound.inc({ broker: key }, survey.drifted);
        this.d.metrics?.unmanagedObjects.set({ broker: key }, survey.unmanaged);
      }
      await writeStatus(this.d.kube, this.d.recorder, 'rabbitbrokers', r, {
        ready: true,
        reason: Reasons.Reconciled,
        message: `RabbitMQ ${overview.rabbitmq_version} at ${overview.node}${insecure ? ' (certificate NOT verified: insecureSkipVerify)' : ''}`,
        applied: true,
        extra: {
          endpoint: client.endpoint,
          rabbitmqVersion: overview.rabbitmq_version,
          clusterName: overview.cluster_name,
          ...(survey && { lastSurveyTime: survey.lastSurveyTime, survey }),
        },
        conditions: survey
          ? [{ type: 'Surveyed', status: true, reason: 'Surveyed', message: surveySummary(survey) }]
          : surveyError !== undefined
            ? [{ type: 'Surveyed', status: false, reason: 'SurveyFailed', message: surveyError }]
            : [],
      });
      if (survey?.resetDetected) {
        await this.d.recorder.emit(
          r,
          'Warning',
          'BrokerReset',
          'Survey',
          'the broker lost its definitions or was replaced: re-declaring everything',
        );
      }
      // Dependents waiting on this broker (first contact, the end of an outage, or a new spec:
      // allowedNamespaces or tenants may admit what was refused) go now.
      if (!wasReady || back || specChanged) this.d.notify(depKeys.broker(key));
      // The survey keeps its own schedule, whatever triggered this probe.
      return { requeueAfterMs: Math.max(1000, interval - (Date.now() - this.lastSurvey.get(key)!)) };
    } catch (err) {
      const f = classify(err);
      if (!f) throw err;
      this.d.metrics?.brokerUp.set({ broker: key }, 0);
      const outage =
        f.reason === Reasons.BrokerUnreachable || f.reason === Reasons.CertificateVerificationFailed;
      if (outage && this.d.registry.markDown(key, f.message)) {
        // Every dependent learns of the outage now and then fails fast until the probe sees the broker back.
        this.d.notify(depKeys.broker(key));
      }
      log.info({ reason: f.reason, detail: f.message }, 'broker not ready');
      await writeStatus(this.d.kube, this.d.recorder, 'rabbitbrokers', r, {
        ready: false,
        reason: f.reason,
        message: f.message,
      });
      // Check again on the survey interval at most, never faster than the backoff allows.
      return outage ? { requeueAfterMs: Math.min(interval, 5_000) } : f.outcome;
    } finally {
      this.d.deps.set(depKey, depSet);
    }
  }
}

// Constant, so a survey that finds nothing new writes nothing new (the figures are in status.survey).
const surveySummary = (_s: SurveyResult) => 'the last survey succeeded';
