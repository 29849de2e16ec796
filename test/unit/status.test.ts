import { describe, expect, it } from 'vitest';
import type { Condition, Resource } from '../../src/api/common.ts';
import { nextStatus } from '../../src/kinds/status.ts';

type Status = { observedGeneration?: number; conditions?: Condition[]; [k: string]: unknown };

const NOW = new Date('2024-05-01T12:00:00Z');

function resource(generation: number, status?: Status): Resource<unknown, Status> {
  return {
    apiVersion: 'warren.dev/v1alpha1',
    kind: 'RabbitQueue',
    metadata: { name: 'hello', namespace: 'default', uid: 'u1', generation },
    spec: {},
    status,
  };
}

describe('nextStatus', () => {
  it('does not advance observedGeneration when the spec did not reach the broker', () => {
    const r = resource(3, { observedGeneration: 2 });
    const s = nextStatus(r, { ready: false, reason: 'BrokerUnreachable', message: 'down' }, NOW);
    expect(s.observedGeneration).toBe(2);
    const s2 = nextStatus(r, { ready: true, reason: 'Reconciled', message: '', applied: false }, NOW);
    expect(s2.observedGeneration).toBe(2);
  });

  it('leaves observedGeneration unset on a fresh resource until applied', () => {
    const s = nextStatus(resource(1), { ready: false, reason: 'WaitingForDependency', message: 'x' }, NOW);
    expect(s.observedGeneration).toBeUndefined();
  });

  it('advances observedGeneration to metadata.generation when applied', () => {
    const r = resource(5, { observedGeneration: 2 });
    const s = nextStatus(r, { ready: true, reason: 'Reconciled', message: 'ok', applied: true }, NOW);
    expect(s.observedGeneration).toBe(5);
  });

  it("sets the Ready condition's observedGeneration to metadata.generation even when not applied", () => {
    const r = resource(4, { observedGeneration: 1 });
    const s = nextStatus(r, { ready: false, reason: 'Rejected', message: 'no' }, NOW);
    expect(s.conditions).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'Rejected',
        message: 'no',
        observedGeneration: 4,
        lastTransitionTime: '2024-05-01T12:00:00Z',
      },
    ]);
  });

  it('merges extra fields over the previous status and keeps the rest', () => {
    const r = resource(1, { observedGeneration: 1, username: 'old', credentialsSecretName: 'keep-me' });
    const s = nextStatus(
      r,
      {
        ready: true,
        reason: 'Reconciled',
        message: '',
        applied: true,
        extra: { username: 'jack', tags: ['a'] },
      },
      NOW,
    );
    expect(s).toMatchObject({ username: 'jack', tags: ['a'], credentialsSecretName: 'keep-me' });
  });

  it('extra fields cannot override observedGeneration or conditions', () => {
    const r = resource(2, { observedGeneration: 1 });
    const s = nextStatus(
      r,
      { ready: false, reason: 'Conflict', message: 'm', extra: { observedGeneration: 99, conditions: [] } },
      NOW,
    );
    expect(s.observedGeneration).toBe(1);
    expect(s.conditions).toHaveLength(1);
  });

  it('maps ready to the condition status and truncates long messages to the metav1 limit', () => {
    const r = resource(1);
    const s = nextStatus(r, { ready: true, reason: 'Reconciled', message: 'x'.repeat(40_000) }, NOW);
    expect(s.conditions![0]!.status).toBe('True');
    expect(s.conditions![0]!.message).toHaveLength(32768);
  });

  it('keeps lastTransitionTime when Ready does not flip', () => {
    const before = nextStatus(resource(1), { ready: false, reason: 'BrokerUnreachable', message: '' }, NOW);
    const later = new Date('2024-05-02T00:00:00Z');
    const after = nextStatus(
      resource(1, before),
      { ready: false, reason: 'SecretNotFound', message: '' },
      later,
    );
    expect(after.conditions![0]!.lastTransitionTime).toBe('2024-05-01T12:00:00Z');
  });
});
