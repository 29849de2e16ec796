import { describe, expect, it } from 'vitest';
import type { TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import type { RunningOperator } from '../support/operator.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow } from '../support/wait.ts';

// What one write wakes: an update of a vhost does not re-read what lives inside it; its
// re-creation (everything inside was lost with it) does.
let ctx: TestContext;
let op: RunningOperator;
let vhost: string;
useOperator(
  import.meta.url,
  (c, o) => {
    ctx = c;
    op = o;
    vhost = `${c.namespace}-inside`;
  },
  { resyncMs: 3_600_000, cleanup: async (c) => void (await c.broker.del(`/vhosts/${enc(vhost)}`)) },
);

const ready = (plural: string, name: string) =>
  eventually(
    () => ctx.get(plural, name),
    (o) => isReadyNow(o),
    { what: `${plural}/${name} Ready` },
  );
const idle = (plural: string) => {
  const s = op.operator.stats()[plural]!;
  return s.queued === 0 && s.inFlight === 0;
};

describe('dependents are woken by creation, not by every update', () => {
  it('a vhost description edit reconciles no queue; a vhost re-created brings them all back', async () => {
    const b = { name: 'local' };
    await ctx.create('rabbitvhosts', 'vh', { brokerRef: b, name: vhost, description: 'one' });
    for (const q of ['a', 'b', 'c']) await ctx.create('rabbitqueues', q, { brokerRef: b, vhost });
    await ready('rabbitvhosts', 'vh');
    for (const q of ['a', 'b', 'c']) await ready('rabbitqueues', q);
    await eventually(
      async () => idle('rabbitqueues'),
      (x) => x,
      { what: 'queue controller idle' },
    );

    const queues = await op.reconciles('rabbitqueue');
    const vhosts = await op.reconciles('rabbitvhost');
    await ctx.patchSpec('rabbitvhosts', 'vh', { description: 'two' });
    // The vhost's reconcile is counted once it returned, after any notification it made.
    await eventually(
      () => op.reconciles('rabbitvhost'),
      (n) => n > vhosts,
      { what: 'vhost reconciled' },
    );
    expect((await ctx.broker.get(`/vhosts/${enc(vhost)}`)).body.description).toBe('two');
    expect(idle('rabbitqueues')).toBe(true);
    expect(await op.reconciles('rabbitqueue')).toBe(queues);

    // Deleted behind warren's back and put back by the survey: the queues inside come back too.
    expect(await ctx.broker.del(`/vhosts/${enc(vhost)}`)).toBe(204);
    for (const q of ['a', 'b', 'c'])
      await eventually(
        () => ctx.broker.get(`/queues/${enc(vhost)}/${q}`),
        (r) => r.status === 200,
        { timeoutMs: 30_000, what: `queue ${q} back` },
      );
  });
});
