import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { eventually, isReadyNow } from '../support/wait.ts';

let ctx: TestContext;
let op: RunningOperator | undefined;
let p: string;
const b = { name: 'local' };
beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  p = ctx.namespace;
  await createBroker(ctx);
  op = await startOperator(ctx, { resyncMs: 3_600_000 });
  await ctx.create('rabbitvhosts', 'vh', { brokerRef: b, name: `${p}-vh`, limits: { maxQueues: 100 } });
  await ctx.create('rabbitusers', 'frank', { brokerRef: b, username: `${p}-frank`, tags: ['management'] });
  await ctx.create('rabbitpermissions', 'frank-vh', {
    brokerRef: b,
    vhostRef: { name: 'vh' },
    userRef: { name: 'frank' },
    configure: '.*',
    write: '.*',
    read: '.*',
  });
  for (let i = 0; i < 20; i++) await ctx.create('rabbitqueues', `q${i}`, { brokerRef: b, vhost: `${p}-vh` });
  for (const [plural, name] of [
    ['rabbitvhosts', 'vh'],
    ['rabbitusers', 'frank'],
    ['rabbitpermissions', 'frank-vh'],
  ]) {
    await eventually(() => ctx.get(plural!, name!), isReadyNow, { what: `${plural}/${name}` });
  }
  for (let i = 0; i < 20; i++)
    await eventually(() => ctx.get('rabbitqueues', `q${i}`), isReadyNow, { what: `q${i}` });
}, 120_000);
afterAll(async () => {
  await op?.stop();
  await ctx?.broker.del(`/vhosts/${enc(`${p}-vh`)}`);
  await ctx?.broker.del(`/users/${enc(`${p}-frank`)}`);
  await ctx?.cleanup();
});

describe('operator restart', () => {
  it('with everything in place, makes no broker writes and no per-object reads', async () => {
    await op!.stop();
    op = await startOperator(ctx, { resyncMs: 3_600_000 });
    // Two surveys after the restart (each verifies everything in bulk).
    const running = op;
    const surveys = async () =>
      (await running.metrics.surveyDuration.get()).values
        .filter((v) => v.metricName === 'warren_survey_duration_seconds_count')
        .reduce((n, v) => n + v.value, 0);
    await eventually(surveys, (n) => n >= 2, { timeoutMs: 30_000, what: 'two surveys' });
    // Stopped, it has nothing in flight (stop waits for running reconciles): every request counted
    // below belongs to a reconcile or a survey counted below, and a third survey that had begun
    // by the time the second was seen (CI's loaded machine) is counted whole, not half.
    const stopped = running;
    op = undefined;
    await stopped.stop();
    const stats = [...stopped.operator.brokerRequests().values()][0]!;
    console.log(
      `requests in two survey intervals after a restart with 23 resources in place: ${JSON.stringify(stats.byMethod)}`,
    );
    expect(Object.keys(stats.byMethod).sort()).toEqual(['GET']);
    // The surveys verified everything in bulk; the resources' own reconciles are spread over the
    // resync window instead of 23 at once.
    const kinds = ['rabbitvhost', 'rabbituser', 'rabbitpermission', 'rabbitqueue'];
    const reconciles = (await Promise.all(kinds.map((k) => stopped.reconciles(k)))).reduce(
      (a, n) => a + n,
      0,
    );
    const brokerReconciles = await stopped.reconciles('rabbitbroker');
    const failed = (await stopped.metrics.surveyFailures.get()).values.reduce((n, v) => n + v.value, 0);
    const surveysRun = (await surveys()) + failed;
    console.log(
      `reconciles: ${reconciles} topology, ${brokerReconciles} broker; surveys: ${surveysRun} (${failed} failed)`,
    );
    expect(surveysRun).toBeGreaterThanOrEqual(2);
    expect(reconciles).toBeLessThanOrEqual(5);
    // Each broker reconcile probes once (plus one version read per client); each survey reads the
    // marker, nine broker-wide lists and three lists for the one managed vhost; a topology
    // reconcile reads at most its object's few rows.
    expect(stats.byMethod.GET).toBeLessThanOrEqual(brokerReconciles + 1 + surveysRun * 13 + reconciles * 3);
  });

  it('repairs what changed while it was down, found by the first survey', async () => {
    await op?.stop();
    op = undefined;
    await ctx.broker.del(`/queues/${enc(`${p}-vh`)}/q7`);
    await ctx.broker.put(`/permissions/${enc(`${p}-vh`)}/${enc(`${p}-frank`)}`, {
      configure: '',
      write: '',
      read: '',
    });
    op = await startOperator(ctx, { resyncMs: 3_600_000 });
    await eventually(
      () => ctx.broker.get(`/queues/${enc(`${p}-vh`)}/q7`),
      (r) => r.status === 200,
      { timeoutMs: 10_000 },
    );
    await eventually(
      () => ctx.broker.get(`/permissions/${enc(`${p}-vh`)}/${enc(`${p}-frank`)}`),
      (r) => r.body?.configure === '.*',
      { timeoutMs: 10_000 },
    );
  });

  it('does not keep saying Ready when the RabbitBroker went away while it was down', async () => {
    await op!.stop();
    op = undefined;
    await ctx.remove('rabbitbrokers', 'local');
    await ctx.waitGone('rabbitbrokers', 'local');
    op = await startOperator(ctx, { resyncMs: 3_600_000 });
    await eventually(
      () => ctx.get('rabbitqueues', 'q3'),
      (o) => o.status?.conditions?.find((c: any) => c.type === 'Ready')?.reason === 'BrokerNotFound',
      { timeoutMs: 10_000, what: 'BrokerNotFound' },
    );
  });
});
