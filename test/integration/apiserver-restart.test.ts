import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext, type TestContext } from '../support/context.ts';
import { startControlPlane, type ControlPlane } from '../support/control-plane.ts';
import { installCRDs } from '../support/environment.ts';
import { enc } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { eventually, isReadyNow } from '../support/wait.ts';
import { inject } from 'vitest';

// kube-apiserver is killed and started again while resources are being created and deleted. This
// file has a control plane of its own (the shared one serves the other files); the broker is shared.
let cp: ControlPlane;
let ctx: TestContext;
let op: RunningOperator;

beforeAll(async () => {
  const env = inject('env');
  cp = await startControlPlane(join(env.dir, `kube-restart-${process.pid}`));
  await installCRDs(cp.kubeconfigPath);
  ctx = await testContext(import.meta.url, { kubeconfigPath: cp.kubeconfigPath });
  await createBroker(ctx);
  op = await startOperator(ctx, { terminatingGraceMs: 60_000 });
}, 180_000);
afterAll(async () => {
  await op?.stop();
  await ctx?.cleanup().catch(() => undefined);
  await cp?.stop();
});

/** Retries a call the API server may refuse while it is down (bounded). */
async function persist<T>(what: string, fn: () => Promise<T>, accept404 = false): Promise<T | undefined> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 409 && what.startsWith('create')) return undefined; // landed before the answer was lost
      if (code === 404 && accept404) return undefined;
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('kube-apiserver restarted under load', () => {
  it('ends with the broker and the resources in agreement, nothing lost', async () => {
    const q = (i: number) => `q-${String(i).padStart(3, '0')}`;
    const spec = (i: number) => ({ brokerRef: { name: 'local' }, vhost: ctx.vhost, name: q(i) });
    for (let i = 0; i < 20; i++) await ctx.create('rabbitqueues', q(i), spec(i));
    for (let i = 0; i < 20; i++)
      await eventually(() => ctx.get('rabbitqueues', q(i)), isReadyNow, { what: `${q(i)} Ready` });

    // Creates 20..59 and deletes 0..9 while the API server goes down for 3 s and comes back.
    const work = (async () => {
      for (let i = 20; i < 60; i++) {
        await persist(`create ${q(i)}`, () => ctx.create('rabbitqueues', q(i), spec(i)));
        if (i < 30) await persist(`delete ${q(i - 20)}`, () => ctx.remove('rabbitqueues', q(i - 20)), true);
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await cp.restartApiserver(3000);
    await work;

    const wanted = new Set(Array.from({ length: 50 }, (_, k) => q(k + 10)));
    for (const name of wanted)
      await eventually(() => ctx.get('rabbitqueues', name), isReadyNow, {
        timeoutMs: 60_000,
        what: `${name} Ready`,
      });
    for (let i = 0; i < 10; i++) await ctx.waitGone('rabbitqueues', q(i), 60_000);
    const inBroker = await eventually(
      async () =>
        (await ctx.broker.get(`/queues/${enc(ctx.vhost)}?columns=name`)).body as Array<{ name: string }>,
      (list) => list.length === wanted.size,
      { timeoutMs: 30_000, what: 'broker holds exactly the declared queues' },
    );
    expect(new Set(inBroker.map((x) => x.name))).toEqual(wanted);
    expect(op.operator.ready).toBe(true);
  });
});
