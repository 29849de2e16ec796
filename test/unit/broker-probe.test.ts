import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BrokerReconciler } from '../../src/kinds/broker.ts';
import { DependencyIndex } from '../../src/kinds/dependencies.ts';

// The probe decides reachability and runs as often as it is asked; the survey keeps its own
// schedule, so dependents failing against a slow broker never make it survey more often.

function setup() {
  const calls = { overview: 0, survey: 0, enqueued: [] as string[], statusWrites: 0 };
  const broker = {
    apiVersion: 'warren.dev/v1alpha1',
    kind: 'RabbitBroker',
    metadata: { name: 'b', namespace: 'ns', uid: 'u', generation: 1 },
    spec: { endpoint: 'http://x', credentialsSecretRef: { name: 's' }, surveyInterval: '30s' },
    status: { observedGeneration: 1 },
  };
  const client = {
    overview: async () => (calls.overview++, { rabbitmq_version: '3.10.8', node: 'n', cluster_name: 'c' }),
    resetCapabilities: () => undefined,
  };
  const rec = new BrokerReconciler({
    kube: { patchStatus: async () => void calls.statusWrites++ } as never,
    recorder: { emit: async () => undefined } as never,
    registry: {
      clientFor: async () => client,
      insecure: () => false,
      markUp: () => false,
      markDown: () => true,
    } as never,
    deps: new DependencyIndex(),
    get: () => broker as never,
    notify: () => undefined,
    enqueue: (k) => calls.enqueued.push(k),
    surveyor: {
      survey: async () => (
        calls.survey++,
        {
          lastSurveyTime: 'now',
          durationMs: 1,
          requests: 8,
          managed: 0,
          drifted: 0,
          repaired: 0,
          unmanaged: 0,
          resetDetected: false,
        }
      ),
      forget: () => undefined,
    } as never,
  });
  const rc = { log: pino({ level: 'silent' }), retries: 0 };
  return { rec, rc, calls };
}

describe('BrokerReconciler', () => {
  it('probes on every trigger but surveys only when the interval has passed', async () => {
    const { rec, rc, calls } = setup();
    const first = await rec.reconcile('ns/b', rc);
    expect(calls).toMatchObject({ overview: 1, survey: 1 });
    const again = [await rec.reconcile('ns/b', rc), await rec.reconcile('ns/b', rc)];
    expect(calls).toMatchObject({ overview: 3, survey: 1 });
    // The next run stays where the survey's schedule puts it.
    for (const o of [first, ...again]) {
      expect((o as { requeueAfterMs: number }).requeueAfterMs).toBeGreaterThan(29_000);
      expect((o as { requeueAfterMs: number }).requeueAfterMs).toBeLessThanOrEqual(30_000);
    }
  });

  it('coalesces the probe requests of failing dependents', () => {
    const { rec, calls } = setup();
    for (let i = 0; i < 100; i++) rec.probeSoon('ns/b');
    expect(calls.enqueued).toEqual(['ns/b']);
  });
});
