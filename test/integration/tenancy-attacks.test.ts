import * as k8s from '@kubernetes/client-node';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/common.ts';
import { ALL_KINDS } from '../../src/kinds/index.ts';
import { drain, publish } from '../support/amqp.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { shippedRbac, type ShippedRbac } from '../support/shipped-rbac.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// What a hostile team sharing the broker would try, one attack per test (docs/tenancy.md). The
// platform owns the broker (this file's namespace); team A and team B are admitted, each to its
// own vhosts; "outsider" is a namespace the broker does not admit. Each test reads the broker
// back: the attack wrote nothing, and the victim's users and messages are as they were.
let ctx: TestContext;
let op: RunningOperator;
let rbac: ShippedRbac | undefined;
let teamA: string;
let teamB: string;
let outsider: string;
const kindOf = (plural: string) => ALL_KINDS.find((k) => k.plural === plural)!.kind;
const vA = () => `${ctx.vhost}-a`;
const vB = () => `${ctx.vhost}-b`;
const victim = () => `victim-${ctx.namespace}`;
const VICTIM_PASSWORD = 'victim-password';

const inNs = (namespace: string) => ({
  create: (plural: string, name: string, spec: Record<string, unknown>) =>
    ctx.custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: kindOf(plural),
        metadata: { name },
        spec: { brokerRef: { name: 'local', namespace: ctx.namespace }, ...spec },
      },
    }),
  get: (plural: string, name: string) =>
    ctx.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name }),
  remove: (plural: string, name: string) =>
    ctx.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name }),
  /** What a tenant with status rights (a common `resources: ["*"]` grant) can write. */
  patchStatus: (plural: string, name: string, status: Record<string, unknown>) =>
    ctx.custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, namespace, plural, name, body: { status } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    ),
  secret: (name: string, stringData: Record<string, string>) =>
    ctx.core.createNamespacedSecret({ namespace, body: { metadata: { name }, stringData } }),
  gone: (plural: string, name: string) =>
    eventually(
      () =>
        inNs(namespace)
          .get(plural, name)
          .then(
            () => false,
            (e) => e.code === 404,
          ),
      (g) => g,
      { what: `${namespace}/${plural}/${name} gone` },
    ),
});

const notReady = async (ns: string, plural: string, name: string, reason: string) => {
  const o = await eventually(
    () => inNs(ns).get(plural, name),
    (x) => readyOf(x)?.status === 'False' && readyOf(x)?.reason === reason,
    { what: `${plural}/${name} ${reason}` },
  );
  return readyOf(o);
};
const ready = (ns: string, plural: string, name: string) =>
  eventually(() => inNs(ns).get(plural, name), isReadyNow, { what: `${ns}/${plural}/${name} Ready` });

/** The API server's refusal of a create (the schema), with its message. */
const rejected = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (err: any) {
    expect(err.code).toBe(422);
    return String(err.body);
  }
  throw new Error('the API server accepted it');
};

/** The victim still logs in with its own password and sees its own vhost. */
const victimLogsIn = async () => {
  const conn = await amqp.connect(
    `amqp://${enc(victim())}:${VICTIM_PASSWORD}@${new URL(ctx.env.amqpUrl).host}/${enc(vA())}`,
  );
  await conn.close();
  return true;
};

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  teamA = `${ctx.namespace}-a`;
  teamB = `${ctx.namespace}-b`;
  outsider = `${ctx.namespace}-x`;
  for (const ns of [teamA, teamB, outsider])
    await ctx.core.createNamespace({ body: { metadata: { name: ns } } });
  await createBroker(ctx);
  await ctx.patchSpec('rabbitbrokers', 'local', {
    allowedNamespaces: [teamA, teamB],
    tenants: [
      { namespaces: [teamA], vhosts: [vA()] },
      // Team B uses the vhost the platform made for it, and may declare only its own extra ones.
      { namespaces: [teamB], vhosts: [vB(), `${vB()}-*`], declareVhosts: [`${vB()}-*`] },
    ],
  });
  // Team A's vhost, with a queue holding a message; team B's vhost, made and capped by the platform.
  expect(await ctx.broker.put(`/vhosts/${enc(vA())}`, {})).toBe(201);
  expect(await ctx.broker.put(`/vhosts/${enc(vB())}`, {})).toBe(201);
  expect(await ctx.broker.put(`/vhost-limits/${enc(vB())}/max-queues`, { value: 50 })).toBeLessThan(300);
  for (const v of [vA(), vB()])
    expect(
      await ctx.broker.put(`/permissions/${enc(v)}/${enc(ctx.env.adminUser)}`, {
        configure: '.*',
        write: '.*',
        read: '.*',
      }),
    ).toBeLessThan(300);
  expect(await ctx.broker.put(`/queues/${enc(vA())}/ledger`, { durable: true })).toBe(201);
  await publish(ctx.env, vA(), '', 'ledger', ['team A only']);
  // A user made by hand (or by an import), with rights in team A's vhost.
  expect(
    await ctx.broker.put(`/users/${enc(victim())}`, { password: VICTIM_PASSWORD, tags: 'management' }),
  ).toBe(201);
  expect(
    await ctx.broker.put(`/permissions/${enc(vA())}/${enc(victim())}`, {
      configure: '.*',
      write: '.*',
      read: '.*',
    }),
  ).toBe(201);
  // The operator runs as it is installed: the shipped ClusterRoles and Secret policy, no admin token.
  rbac = await shippedRbac(ctx);
  op = await startOperator(ctx, {
    namespaces: [ctx.namespace, teamA, teamB, outsider],
    kubeconfigPath: rbac.kubeconfigPath,
  });
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await rbac?.cleanup();
  for (const path of [
    `/vhosts/${enc(vA())}`,
    `/vhosts/${enc(vB())}`,
    `/vhosts/${enc(`${vB()}-own`)}`,
    `/users/${enc(victim())}`,
    `/users/${enc(`bob-${ctx.namespace}`)}`,
    `/users/${enc(`decoy-${ctx.namespace}`)}`,
    `/users/${enc(`eve-${ctx.namespace}`)}`,
    `/users/${enc(`carol-${ctx.namespace}`)}`,
    `/users/${enc(`root-${ctx.namespace}`)}`,
  ])
    await ctx?.broker.del(path);
  for (const user of ['bob', 'decoy', 'eve', 'carol'])
    await ctx?.broker.del(`/global-parameters/${enc(`warren.dev-user-creator.${user}-${ctx.namespace}`)}`);
  for (const ns of [teamA, teamB, outsider])
    await ctx?.core.deleteNamespace({ name: ns }).catch(() => undefined);
  await ctx?.cleanup();
});

describe('attacks by a tenant sharing the broker', () => {
  it('1, 2: no administrator or monitoring tag, however the string is written', async () => {
    const b = inNs(teamB);
    // The schema refuses what the broker would split or trim (a comma, a space at an end).
    for (const tags of [['management,administrator'], [' administrator'], ['administrator '], ['a,']]) {
      const why = await rejected(
        b.create('rabbitusers', 'root', { username: `root-${ctx.namespace}`, tags }),
      );
      expect(why).toContain('spec.tags[0]');
    }
    // What the schema lets through, the guard reads as the broker does.
    await b.create('rabbitusers', 'watcher', { username: `root-${ctx.namespace}`, tags: ['monitoring'] });
    expect((await notReady(teamB, 'rabbitusers', 'watcher', 'NotAllowed')).message).toMatch(
      /does not grant tag 'monitoring'/,
    );
    expect((await ctx.broker.get(`/users/${enc(`root-${ctx.namespace}`)}`)).status).toBe(404);
  });

  it('3: a shovel or an upstream cannot reach another vhost of this broker', async () => {
    const b = inNs(teamB);
    const admin = `${enc(ctx.env.adminUser)}:${enc(ctx.env.adminPassword)}`;
    const port = new URL(ctx.env.amqpUrl).port;
    const tries = [
      ['direct', `amqp:///${enc(vA())}`, /direct URI/],
      ['loopback', `amqp://guest:guest@localhost:${port}/${enc(vA())}`, /own machine/],
      ['decimal', `amqp://${admin}@2130706433:${port}/${enc(vA())}`, /own machine/],
      ['nouser', `amqp://rabbit.example:${port}/${enc(vA())}`, /names no user/],
    ] as const;
    for (const [name, uri, why] of tries) {
      await b.secret(`steal-${name}`, { srcUri: uri, destUri: `amqp:///${enc(vB())}` });
      await b.create('rabbitshovels', `steal-${name}`, {
        vhost: vB(),
        uriSecretRef: { name: `steal-${name}` },
        source: { queue: 'ledger' },
        destination: { queue: 'loot' },
      });
      expect((await notReady(teamB, 'rabbitshovels', `steal-${name}`, 'NotAllowed')).message).toMatch(why);
      expect((await ctx.broker.get(`/parameters/shovel/${enc(vB())}/steal-${name}`)).status).toBe(404);
    }
    await b.secret('inject', { uri: `amqp:///${enc(vA())}` });
    await b.create('rabbitfederations', 'inject', { vhost: vB(), uriSecretRef: { name: 'inject' } });
    expect((await notReady(teamB, 'rabbitfederations', 'inject', 'NotAllowed')).message).toMatch(
      /direct URI/,
    );
    expect((await ctx.broker.get(`/parameters/federation-upstream/${enc(vB())}/inject`)).status).toBe(404);
    // The URIs' values never reach status.
    const s = await b.get('rabbitshovels', 'steal-decimal');
    expect(JSON.stringify(s.status)).not.toContain(ctx.env.adminPassword);
    // Team A's message is still where it was.
    expect(await drain(ctx.env, vA(), 'ledger')).toEqual(['team A only']);
    await publish(ctx.env, vA(), '', 'ledger', ['team A only']);
  });

  it('4: an existing user no resource of the namespace made is not taken over, nor deleted', async () => {
    const b = inNs(teamB);
    await b.create('rabbitusers', 'takeover', { username: victim(), tags: ['management'] });
    expect((await notReady(teamB, 'rabbitusers', 'takeover', 'NotAllowed')).message).toMatch(
      new RegExp(`user '${victim()}' already exists in the broker.*adoptUsers`),
    );
    expect(await victimLogsIn()).toBe(true);
    await b.remove('rabbitusers', 'takeover');
    await b.gone('rabbitusers', 'takeover');
    expect((await ctx.broker.get(`/users/${enc(victim())}`)).status).toBe(200);
    expect(await victimLogsIn()).toBe(true);
    // What a namespace makes is its own: created, changed and deleted by it.
    await b.create('rabbitusers', 'bob', { username: `bob-${ctx.namespace}`, tags: ['management'] });
    await ready(teamB, 'rabbitusers', 'bob');
  });

  it('5: names written into status reach nothing', async () => {
    const b = inNs(teamB);
    // A vhost of team B's own, and a decoy user, Ready; then their status is rewritten.
    await b.create('rabbitvhosts', 'own', { name: `${vB()}-own` });
    await b.create('rabbitusers', 'decoy', { username: `decoy-${ctx.namespace}` });
    await b.create('rabbitusers', 'eve', { username: `eve-${ctx.namespace}` });
    await ready(teamB, 'rabbitvhosts', 'own');
    await ready(teamB, 'rabbitusers', 'decoy');
    await ready(teamB, 'rabbitusers', 'eve');
    await b.patchStatus('rabbitvhosts', 'own', { name: vA() });
    await b.patchStatus('rabbitusers', 'eve', { username: victim() });
    await b.patchStatus('rabbitusers', 'decoy', { username: ctx.env.adminUser });
    // A permission through references lands where the referenced specs say.
    await b.create('rabbitpermissions', 'eve-own', {
      vhostRef: { name: 'own' },
      userRef: { name: 'eve' },
      configure: '.*',
      write: '.*',
      read: '.*',
    });
    await ready(teamB, 'rabbitpermissions', 'eve-own');
    expect(
      (await ctx.broker.get(`/permissions/${enc(`${vB()}-own`)}/${enc(`eve-${ctx.namespace}`)}`)).status,
    ).toBe(200);
    expect((await ctx.broker.get(`/permissions/${enc(vA())}/${enc(victim())}`)).body.configure).toBe('.*');
    expect((await ctx.broker.get(`/permissions/${enc(vA())}/${enc(`eve-${ctx.namespace}`)}`)).status).toBe(
      404,
    );
    // Deleting the decoy deletes the decoy, not the user its status names (warren's own admin).
    await b.remove('rabbitusers', 'decoy');
    await b.gone('rabbitusers', 'decoy');
    expect((await ctx.broker.get(`/users/${enc(`decoy-${ctx.namespace}`)}`)).status).toBe(404);
    expect((await ctx.broker.get('/whoami')).body.name).toBe(ctx.env.adminUser);
    expect(await victimLogsIn()).toBe(true);
  });

  it('7: a namespace the broker does not admit neither squats a name nor keeps a user alive', async () => {
    const x = inNs(outsider);
    const a = inNs(teamA);
    // The outsider declares first (so its declaration is the older one).
    await x.create('rabbitqueues', 'orders', { vhost: vA() });
    await x.create('rabbitusers', 'carol', { username: `carol-${ctx.namespace}` });
    expect((await notReady(outsider, 'rabbitqueues', 'orders', 'NotAllowed')).message).toMatch(
      /does not list namespace .* in allowedNamespaces/,
    );
    await a.create('rabbitqueues', 'orders', { vhost: vA() });
    await a.create('rabbitusers', 'carol', { username: `carol-${ctx.namespace}` });
    await ready(teamA, 'rabbitqueues', 'orders');
    await ready(teamA, 'rabbitusers', 'carol');
    // Team A deletes its user: it goes, whatever the outsider declares.
    await a.remove('rabbitusers', 'carol');
    await a.gone('rabbitusers', 'carol');
    expect((await ctx.broker.get(`/users/${enc(`carol-${ctx.namespace}`)}`)).status).toBe(404);
    expect((await ctx.broker.get(`/queues/${enc(vA())}/orders`)).status).toBe(200);
  });

  it("8: a tenant cannot lift the platform's caps", async () => {
    const b = inNs(teamB);
    // The platform caps team B's queues at two messages.
    await ctx.create('rabbitoperatorpolicies', 'cap', {
      brokerRef: { name: 'local' },
      vhost: vB(),
      pattern: '.*',
      applyTo: 'queues',
      priority: 0,
      definition: { 'max-length': 2 },
    });
    await eventually(() => ctx.get('rabbitoperatorpolicies', 'cap'), isReadyNow, { what: 'cap Ready' });
    await b.create('rabbitoperatorpolicies', 'uncap', {
      vhost: vB(),
      pattern: '.*',
      applyTo: 'queues',
      priority: 100,
      definition: { 'max-length': 100000 },
    });
    expect((await notReady(teamB, 'rabbitoperatorpolicies', 'uncap', 'NotAllowed')).message).toMatch(
      /does not allow operator policies/,
    );
    expect((await ctx.broker.get(`/operator-policies/${enc(vB())}/uncap`)).status).toBe(404);
    // Declaring the platform's vhost would drop its limits: team B may use it, not declare it.
    await b.create('rabbitvhosts', 'platform', { name: vB() });
    expect((await notReady(teamB, 'rabbitvhosts', 'platform', 'NotAllowed')).message).toMatch(
      /declare only vhosts/,
    );
    expect((await ctx.broker.get(`/vhost-limits/${enc(vB())}`)).body[0].value).toEqual({ 'max-queues': 50 });
    // The data plane: a queue of team B's keeps two of five messages.
    await b.create('rabbitqueues', 'capped', { vhost: vB() });
    await ready(teamB, 'rabbitqueues', 'capped');
    await eventually(
      () => ctx.broker.get(`/queues/${enc(vB())}/capped`),
      (q) => q.body?.operator_policy === 'cap',
      { what: 'the cap applied to the queue' },
    );
    await publish(ctx.env, vB(), '', 'capped', ['1', '2', '3', '4', '5']);
    expect(await drain(ctx.env, vB(), 'capped')).toEqual(['4', '5']);
  });
});
