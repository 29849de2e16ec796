import { describe, expect, it } from 'vitest';
import { Reasons } from '../../src/api/common.ts';
import { classify } from '../../src/kinds/topology.ts';
import { Blocked } from '../../src/kinds/types.ts';
import { ManagementError, type ManagementErrorCategory } from '../../src/rabbitmq/errors.ts';

const mgmt = (category: ManagementErrorCategory, status?: number) =>
  new ManagementError({ method: 'PUT', path: '/api/vhosts/v', status, reason: 'because', category });

describe('classify', () => {
  it.each([
    ['Unreachable', undefined, Reasons.BrokerUnreachable],
    ['Unauthorized', 401, Reasons.BrokerNotReady],
    ['NotFound', 404, Reasons.WaitingForDependency],
    ['Rejected', 400, Reasons.Rejected],
    ['ServerError', 500, Reasons.Rejected],
  ] as const)('ManagementError %s -> %s with backoff', (category, status, reason) => {
    const err = mgmt(category, status);
    expect(classify(err)).toEqual({
      reason: reason as string,
      message: err.message,
      outcome: { backoff: true },
    });
  });

  it('keeps the broker message for the user', () => {
    expect(classify(mgmt('Rejected', 400))?.message).toBe('PUT /api/vhosts/v: 400 because');
    expect(classify(mgmt('Unreachable'))?.message).toBe('PUT /api/vhosts/v: unreachable (because)');
  });

  it('Blocked keeps its reason and message and backs off', () => {
    expect(classify(new Blocked(Reasons.SecretNotFound, 'secret jack-credentials not found'))).toEqual({
      reason: Reasons.SecretNotFound,
      message: 'secret jack-credentials not found',
      outcome: { backoff: true },
    });
    expect(classify(new Blocked(Reasons.WaitingForDependency, 'vhost v'))?.reason).toBe(
      Reasons.WaitingForDependency,
    );
  });

  it('Blocked InvalidSpec is not retried', () => {
    const f = classify(new Blocked(Reasons.InvalidSpec, 'bad'));
    expect(f?.reason).toBe(Reasons.InvalidSpec);
    expect(f?.outcome).toBeUndefined();
  });

  it('unknown errors are not classified', () => {
    expect(classify(new Error('boom'))).toBeUndefined();
    expect(classify(new TypeError('x is undefined'))).toBeUndefined();
    expect(classify('a string')).toBeUndefined();
    expect(classify(undefined)).toBeUndefined();
    expect(classify({ category: 'Unreachable', message: 'duck-typed' })).toBeUndefined();
  });
});
