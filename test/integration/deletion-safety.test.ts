import * as k8s from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { drain, publish } from '../support/amqp.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// Nothing a resource still declares or retains is destroyed by the deletion of another resource.
// Each scenario publishes real messages and reads them back after the deletion.
let ctx: TestContext;
let op: RunningOperator;
let ns: string;
const kept: string[] = []; // broker vhosts a test leaves behind on purpose
useOperator(
  import.meta.url,
  (c, o) => {
    ctx = c;
    op = o;
    ns = c.namespace;
  },
  {
    cleanup: async (c) => {
      for (const v of kept) await c.broker.del(`/vhosts/${enc(v)}`);
      await c.broker.del(`/users/${enc(`${ns}-shared`)}`);
      await c.broker.del(`/users/${enc(`${ns}-jack`)}`);
    },
  },
);

const b = { name: 'local' };
const ready = (plural: string, name: string) =>
  eventually(() => ctx.get(plural, name), isReadyNow, { what: `${plural}/${name} Ready` });
const reason = (plural: string, name: string, want: string) =>
  eventually(
    () => ctx.get(plural, name),
    (o) => readyOf(o)?.reason === want,
    { what: `${plural}/${name} ${want}` },
  );
const events = async () =>
  (await ctx.kc.makeApiClient(k8s.EventsV1Api).listNamespacedEvent({ namespace: ns })).items;
const eventFor = (name: string, why: string) =>
  eventually(events, (list) => list.some((e) => e.regarding?.name === name && e.reason === why), {
    what: `event ${why} for ${name}`,
  }).then((list) => list.find((e) => e.regarding?.name === name && e.reason === why)!);
/** creationTimestamp has one-second resolution: the next resource must be visibly younger. */
const nextSecond = async () => {
  const s = Math.floor(Date.now() / 1000);
  while (Math.floor(Date.now() / 1000) === s) await sleep(50);
};
const annotate = (plural: string, name: string, annotations: Record<string, string>) =>
  ctx.custom.patchNamespacedCustomObject(
    {
      group: 'warren.dev',
      version: 'v1alpha1',
      namespace: ns,
      plural,
      name,
      body: { metadata: { annotations } },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );

describe('one broker object declared by two resources', () => {
  it('deleting the owning RabbitQueue keeps the queue and its messages; the other declaration takes over', async () => {
    await ctx.create('rabbitqueues', 'q-first', { brokerRef: b, vhost: ctx.vhost, name: 'shared' });
    await ready('rabbitqueues', 'q-first');
    await nextSecond();
    await ctx.create('rabbitqueues', 'q-second', { brokerRef: b, vhost: ctx.vhost, name: 'shared' });
    expect(readyOf(await reason('rabbitqueues', 'q-second', 'Conflict')).message).toContain('q-first');
    await publish(ctx.env, ctx.vhost, '', 'shared', ['m1', 'm2']);

    await ctx.remove('rabbitqueues', 'q-first');
    await ctx.waitGone('rabbitqueues', 'q-first');
    await ready('rabbitqueues', 'q-second');
    expect((await eventFor('q-first', 'HandedOver')).note).toContain('q-second');
    expect(await drain(ctx.env, ctx.vhost, 'shared')).toEqual(['m1', 'm2']);

    // The last declaration deletes it.
    await ctx.remove('rabbitqueues', 'q-second');
    await ctx.waitGone('rabbitqueues', 'q-second');
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/shared`)).status).toBe(404);
  });

  it('deleting the owning RabbitUser keeps the broker user for the other declaration', async () => {
    const user = `${ns}-shared`;
    await ctx.create('rabbitusers', 'u-first', { brokerRef: b, username: user, tags: ['first'] });
    await ready('rabbitusers', 'u-first');
    await nextSecond();
    await ctx.create('rabbitusers', 'u-second', { brokerRef: b, username: user, tags: ['second'] });
    await reason('rabbitusers', 'u-second', 'Conflict');
    await ctx.remove('rabbitusers', 'u-first');
    await ctx.waitGone('rabbitusers', 'u-first');
    await ready('rabbitusers', 'u-second');
    const u = await ctx.broker.get(`/users/${enc(user)}`);
    expect(u.status).toBe(200);
    expect(u.body.tags).toEqual(expect.arrayContaining(['second']));
  });

  it('user: jack and userRef: {name: jack} are one permission: one owns it, deleting it deletes nothing', async () => {
    const jack = `${ns}-jack`;
    await ctx.create('rabbitusers', 'jack', { brokerRef: b, username: jack });
    await ready('rabbitusers', 'jack');
    const perms = { configure: '.*', write: '.*', read: '.*' };
    await ctx.create('rabbitpermissions', 'p-direct', {
      brokerRef: b,
      vhost: ctx.vhost,
      user: jack,
      ...perms,
    });
    await ready('rabbitpermissions', 'p-direct');
    await nextSecond();
    await ctx.create('rabbitpermissions', 'p-ref', {
      brokerRef: b,
      vhost: ctx.vhost,
      userRef: { name: 'jack' },
      ...perms,
    });
    expect(readyOf(await reason('rabbitpermissions', 'p-ref', 'Conflict')).message).toContain('p-direct');
    await ctx.remove('rabbitpermissions', 'p-direct');
    await ctx.waitGone('rabbitpermissions', 'p-direct');
    await ready('rabbitpermissions', 'p-ref');
    expect((await ctx.broker.get(`/permissions/${enc(ctx.vhost)}/${enc(jack)}`)).status).toBe(200);
    await ctx.remove('rabbitpermissions', 'p-ref');
    await ctx.waitGone('rabbitpermissions', 'p-ref');
    expect((await ctx.broker.get(`/permissions/${enc(ctx.vhost)}/${enc(jack)}`)).status).toBe(404);
  });
});

describe('claims of different kinds', () => {
  it('a RabbitQueue and a RabbitExchange with the same resource name keep their own claims', async () => {
    await ctx.create('rabbitqueues', 'twin', { brokerRef: b, vhost: ctx.vhost, name: 'twin-q' });
    await ready('rabbitqueues', 'twin');
    await ctx.create('rabbitexchanges', 'twin', { brokerRef: b, vhost: ctx.vhost, name: 'twin-x' });
    await ready('rabbitexchanges', 'twin');
    await nextSecond();
    // A second declaration of the queue is still the younger one: Conflict, not a second owner.
    await ctx.create('rabbitqueues', 'twin-again', { brokerRef: b, vhost: ctx.vhost, name: 'twin-q' });
    expect(readyOf(await reason('rabbitqueues', 'twin-again', 'Conflict')).message).toContain('/twin ');
  });
});

describe('a vhost and what lives inside it', () => {
  it.each([
    ['the vhost first', 'v1'],
    ['the queue first', 'q1'],
  ])(
    'a Retain queue deleted together with its vhost (%s) survives, and so does the vhost',
    async (_, first) => {
      const tag = first[0];
      const vhost = `${ns}-keep-${tag}`;
      kept.push(vhost);
      await ctx.create('rabbitvhosts', `vk-${tag}`, { brokerRef: b, name: vhost });
      await ready('rabbitvhosts', `vk-${tag}`);
      await ctx.create('rabbitqueues', `qk-${tag}`, {
        brokerRef: b,
        vhost,
        name: 'orders',
        deletionPolicy: 'Retain',
      });
      await ready('rabbitqueues', `qk-${tag}`);
      await publish(ctx.env, vhost, '', 'orders', ['keep me']);

      const both = first === 'v1' ? ['rabbitvhosts', 'rabbitqueues'] : ['rabbitqueues', 'rabbitvhosts'];
      const names: Record<string, string> = { rabbitvhosts: `vk-${tag}`, rabbitqueues: `qk-${tag}` };
      for (const plural of both) await ctx.remove(plural, names[plural]!);
      for (const plural of both) await ctx.waitGone(plural, names[plural]!);

      const ev = await eventFor(`vk-${tag}`, 'Kept');
      expect(ev.type).toBe('Warning');
      // Whichever the operator saw first: the retaining resource, or the queue it left behind.
      expect(ev.note).toMatch(new RegExp(`qk-${tag}|'orders'`));
      expect((await ctx.broker.get(`/vhosts/${enc(vhost)}`)).status).toBe(200);
      expect(await drain(ctx.env, vhost, 'orders')).toEqual(['keep me']);
    },
  );

  it('holds a vhost deletion while a live resource still declares a queue inside it', async () => {
    const vhost = `${ns}-held`;
    await ctx.create('rabbitvhosts', 'vh-held', { brokerRef: b, name: vhost });
    await ready('rabbitvhosts', 'vh-held');
    await ctx.create('rabbitqueues', 'q-inside', { brokerRef: b, vhost, name: 'work' });
    await ready('rabbitqueues', 'q-inside');
    await publish(ctx.env, vhost, '', 'work', ['still needed']);

    await ctx.remove('rabbitvhosts', 'vh-held');
    const held = await reason('rabbitvhosts', 'vh-held', 'DeleteFailed');
    expect(readyOf(held).message).toContain('q-inside');
    expect(await drain(ctx.env, vhost, 'work')).toEqual(['still needed']);
    expect(isReadyNow(await ctx.get('rabbitqueues', 'q-inside'))).toBe(true);

    // Once nothing inside is declared, the vhost goes (after the queue's own deletion).
    await ctx.remove('rabbitqueues', 'q-inside');
    await ctx.waitGone('rabbitqueues', 'q-inside');
    await ctx.waitGone('rabbitvhosts', 'vh-held');
    expect((await ctx.broker.get(`/vhosts/${enc(vhost)}`)).status).toBe(404);
  });

  it('shows the queues no resource declares before a deletion, keeps the vhost for them, and deletes on opt-in', async () => {
    const vhost = `${ns}-stray`;
    kept.push(vhost);
    await ctx.create('rabbitvhosts', 'vh-stray', { brokerRef: b, name: vhost });
    await ready('rabbitvhosts', 'vh-stray');
    // An application declares its own queue (Celery does), with a message in it.
    expect(await ctx.broker.put(`/queues/${enc(vhost)}/celery`, { durable: true })).toBe(201);
    await publish(ctx.env, vhost, '', 'celery', ['task']);
    const seen = await eventually(
      () => ctx.get('rabbitvhosts', 'vh-stray'),
      (o) => o.status?.unmanagedObjects === 1,
      { what: 'unmanaged queue in status', timeoutMs: 30_000 },
    );
    expect(seen.status.unmanagedSample).toEqual(['queue celery']);

    await ctx.remove('rabbitvhosts', 'vh-stray');
    await ctx.waitGone('rabbitvhosts', 'vh-stray');
    expect((await eventFor('vh-stray', 'Kept')).note).toContain("'celery'");
    expect(await drain(ctx.env, vhost, 'celery')).toEqual(['task']);

    // Declared again with the opt-in, its deletion takes the application's queue with it.
    await ctx.create('rabbitvhosts', 'vh-stray2', {
      brokerRef: b,
      name: vhost,
      deleteWithUnmanagedQueues: true,
    });
    await ready('rabbitvhosts', 'vh-stray2');
    await ctx.remove('rabbitvhosts', 'vh-stray2');
    await ctx.waitGone('rabbitvhosts', 'vh-stray2');
    expect((await ctx.broker.get(`/vhosts/${enc(vhost)}`)).status).toBe(404);
  });
});

describe('finalizers are released without deleting only when nothing can be deleted', () => {
  it('holds the finalizer while the broker credentials Secret is missing, and deletes once it is back', async () => {
    await createBroker(ctx, 'flaky');
    await ctx.create('rabbitqueues', 'q-flaky', {
      brokerRef: { name: 'flaky' },
      vhost: ctx.vhost,
      name: 'flaky',
    });
    await ready('rabbitqueues', 'q-flaky');
    // A secret store re-creating the Secret: gone for a moment.
    await ctx.core.deleteNamespacedSecret({ name: 'flaky-admin', namespace: ns });
    // Removed only once warren has seen the Secret go (its broker says so): the two changes come
    // through different watches, and a deletion seen first would be carried out with it.
    await reason('rabbitbrokers', 'flaky', 'SecretNotFound');
    await ctx.remove('rabbitqueues', 'q-flaky');
    const held = await reason('rabbitqueues', 'q-flaky', 'DeleteFailed');
    expect(readyOf(held).message).toContain('flaky-admin');
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/flaky`)).status).toBe(200);

    await ctx.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'flaky-admin' },
        stringData: { username: ctx.env.adminUser, password: ctx.env.adminPassword },
      },
    });
    await ctx.waitGone('rabbitqueues', 'q-flaky', 30_000);
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/flaky`)).status).toBe(404);
    expect(
      (await events()).some((e) => e.regarding?.name === 'q-flaky' && e.reason === 'FinalizerReleased'),
    ).toBe(false);
  });

  it('a person can release a held finalizer with warren.dev/release-without-deleting', async () => {
    await createBroker(ctx, 'stuck');
    await ctx.create('rabbitqueues', 'q-stuck', {
      brokerRef: { name: 'stuck' },
      vhost: ctx.vhost,
      name: 'stuck',
    });
    await ready('rabbitqueues', 'q-stuck');
    await ctx.core.deleteNamespacedSecret({ name: 'stuck-admin', namespace: ns });
    await reason('rabbitbrokers', 'stuck', 'SecretNotFound');
    await ctx.remove('rabbitqueues', 'q-stuck');
    await reason('rabbitqueues', 'q-stuck', 'DeleteFailed');
    // Held, it backs off like any failing resource: its own status writes do not re-queue it.
    const before = await op.reconciles('rabbitqueue');
    await sleep(4000);
    expect((await op.reconciles('rabbitqueue')) - before).toBeLessThanOrEqual(6);
    await annotate('rabbitqueues', 'q-stuck', { 'warren.dev/release-without-deleting': 'true' });
    await ctx.waitGone('rabbitqueues', 'q-stuck');
    expect((await eventFor('q-stuck', 'FinalizerReleased')).type).toBe('Warning');
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/stuck`)).status).toBe(200);
  });
});

describe('a terminating namespace', () => {
  it('retries a deletion the broker refuses for the grace period, then releases it and keeps the object', async () => {
    // A namespace of its own, with its own operator (grace 2 s). Its RabbitBroker carries a foreign
    // finalizer so it outlives the namespace's other objects and stays usable for deletions.
    const other = await testContext(import.meta.url);
    const op = await startOperator(other, { terminatingGraceMs: 2000 });
    try {
      await createBroker(other);
      await other.custom.patchNamespacedCustomObject(
        {
          group: 'warren.dev',
          version: 'v1alpha1',
          namespace: other.namespace,
          plural: 'rabbitbrokers',
          name: 'local',
          body: { metadata: { finalizers: ['test.warren.dev/hold'] } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await other.create('rabbitqueues', 'full', { brokerRef: b, vhost: other.vhost, deleteIfEmpty: true });
      await eventually(() => other.get('rabbitqueues', 'full'), isReadyNow, { what: 'full Ready' });
      await publish(other.env, other.vhost, '', 'full', ['not to be lost']);

      await other.core.deleteNamespace({ name: other.namespace });
      // Refused (not empty) again and again: after the grace period the finalizer goes, and the
      // namespace does not hang on it.
      await other.waitGone('rabbitqueues', 'full', 30_000);
      expect(await drain(other.env, other.vhost, 'full')).toEqual(['not to be lost']);
    } finally {
      await other.custom
        .patchNamespacedCustomObject(
          {
            group: 'warren.dev',
            version: 'v1alpha1',
            namespace: other.namespace,
            plural: 'rabbitbrokers',
            name: 'local',
            body: { metadata: { finalizers: null } },
          },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        )
        .catch(() => undefined);
      await op.stop();
      await other.cleanup();
    }
  });
});
