import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/common.ts';
import { ALL_KINDS } from '../../src/kinds/index.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { shippedRbac, type ShippedRbac } from '../support/shipped-rbac.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// Two teams share one broker owned by the test namespace ("platform"). Each team may touch only
// its own vhosts and may not grant broker-wide power; a refused resource is Ready=False NotAllowed
// naming the rule, and nothing is written to (or deleted from) the broker for it.
let ctx: TestContext;
let op: RunningOperator;
let rbac: ShippedRbac | undefined;
let teamA: string;
let teamB: string;
const kindOf = (plural: string) => ALL_KINDS.find((k) => k.plural === plural)!.kind;
const vA = () => `${ctx.vhost}-a`;
const vB = () => `${ctx.vhost}-b`;
const userA = () => `alice-${ctx.namespace}`;

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
});

const refused = async (ns: string, plural: string, name: string) => {
  const o = await eventually(
    () => inNs(ns).get(plural, name),
    (x) => readyOf(x)?.status === 'False',
    { what: `${plural}/${name} refused` },
  );
  return readyOf(o);
};

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  teamA = `${ctx.namespace}-a`;
  teamB = `${ctx.namespace}-b`;
  for (const ns of [teamA, teamB]) await ctx.core.createNamespace({ body: { metadata: { name: ns } } });
  await createBroker(ctx);
  await ctx.patchSpec('rabbitbrokers', 'local', {
    allowedNamespaces: [teamA, teamB],
    tenants: [
      { namespaces: [teamA], vhosts: [vA(), `${vA()}-*`] },
      { namespaces: [`${ctx.namespace}-b*`], vhosts: [vB()], userTags: ['management'] },
    ],
  });
  // Team B's vhost exists already (its own, or made by the platform team).
  expect(await ctx.broker.put(`/vhosts/${enc(vB())}`, {})).toBe(201);
  // The operator runs as it is installed: the shipped ClusterRoles and Secret policy, no admin token.
  rbac = await shippedRbac(ctx);
  op = await startOperator(ctx, {
    namespaces: [ctx.namespace, teamA, teamB],
    kubeconfigPath: rbac.kubeconfigPath,
  });
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await rbac?.cleanup();
  for (const path of [
    `/vhosts/${enc(vA())}`,
    `/vhosts/${enc(vB())}`,
    `/users/${enc(userA())}`,
    '/users/root-tenant',
  ])
    await ctx?.broker.del(path);
  for (const ns of [teamA, teamB]) await ctx?.core.deleteNamespace({ name: ns }).catch(() => undefined);
  await ctx?.cleanup();
});

describe('tenants sharing one broker', () => {
  it('lets a team declare its own vhost, queues in it and an ordinary user', async () => {
    const a = inNs(teamA);
    await a.create('rabbitvhosts', 'mine', { name: vA() });
    await a.create('rabbitqueues', 'orders', { vhost: vA() });
    await a.create('rabbitusers', 'alice', { username: userA(), tags: ['management'] });
    for (const [plural, name] of [
      ['rabbitvhosts', 'mine'],
      ['rabbitqueues', 'orders'],
      ['rabbitusers', 'alice'],
    ] as const) {
      await eventually(() => a.get(plural, name), isReadyNow, { what: `${plural}/${name} Ready` });
    }
    expect((await ctx.broker.get(`/queues/${enc(vA())}/orders`)).status).toBe(200);
  });

  it('refuses what a rule does not allow, naming the rule, and writes nothing', async () => {
    const a = inNs(teamA);
    await a.create('rabbitqueues', 'intruder', { vhost: vB() });
    const q = await refused(teamA, 'rabbitqueues', 'intruder');
    expect(q.reason).toBe('NotAllowed');
    expect(q.message).toBe(
      `RabbitBroker ${ctx.namespace}/local spec.tenants[0] (namespaces ${teamA}) allows only vhosts ${vA()}, ${vA()}-*, not '${vB()}'`,
    );
    await a.create('rabbitusers', 'root', { username: 'root-tenant', tags: ['administrator'] });
    const u = await refused(teamA, 'rabbitusers', 'root');
    expect(u.reason).toBe('NotAllowed');
    expect(u.message).toMatch(/spec.tenants\[0\] .*does not grant tag 'administrator'/);
    // Team B's rule lists its tags: policymaker is not among them.
    await inNs(teamB).create('rabbitusers', 'pm', { username: 'root-tenant', tags: ['policymaker'] });
    expect((await refused(teamB, 'rabbitusers', 'pm')).message).toMatch(
      /spec.tenants\[1\] .*allows user tags management, not 'policymaker'/,
    );
    // The broker's own user is nobody else's to declare (its password would be theirs).
    await inNs(teamB).create('rabbitusers', 'takeover', { username: ctx.env.adminUser });
    expect((await refused(teamB, 'rabbitusers', 'takeover')).message).toMatch(
      /is the broker's own administrator/,
    );
    expect((await ctx.broker.get(`/queues/${enc(vB())}/intruder`)).status).toBe(404);
    expect((await ctx.broker.get('/users/root-tenant')).status).toBe(404);
    // The admin's password is untouched: the test's own client still logs in with it.
    expect((await ctx.broker.get('/whoami')).body.name).toBe(ctx.env.adminUser);
  });

  it('deletes nothing for a refused resource: a same-named object in the other vhost stays', async () => {
    expect(await ctx.broker.put(`/queues/${enc(vB())}/intruder`, { durable: true })).toBe(201);
    await inNs(teamA).remove('rabbitqueues', 'intruder');
    await eventually(
      () =>
        inNs(teamA)
          .get('rabbitqueues', 'intruder')
          .then(
            () => false,
            (e) => e.code === 404,
          ),
      (gone) => gone,
      { what: 'intruder gone' },
    );
    expect((await ctx.broker.get(`/queues/${enc(vB())}/intruder`)).status).toBe(200);
    // Team B declaring team A's vhost is refused; deleting that declaration goes at once (it does
    // not wait for team A's queue inside) and the vhost stays.
    await inNs(teamB).create('rabbitvhosts', 'not-mine', { name: vA() });
    expect((await refused(teamB, 'rabbitvhosts', 'not-mine')).reason).toBe('NotAllowed');
    await inNs(teamB).remove('rabbitvhosts', 'not-mine');
    await eventually(
      () =>
        inNs(teamB)
          .get('rabbitvhosts', 'not-mine')
          .then(
            () => false,
            (e) => e.code === 404,
          ),
      (gone) => gone,
      { what: 'not-mine gone' },
    );
    expect((await ctx.broker.get(`/vhosts/${enc(vA())}`)).status).toBe(200);
    expect((await ctx.broker.get(`/queues/${enc(vA())}/orders`)).status).toBe(200);
  });

  it("leaves the broker's own namespace unrestricted, and admits what a changed rule grants", async () => {
    await ctx.create('rabbitusers', 'platform-root', {
      brokerRef: { name: 'local' },
      username: `platform-${ctx.namespace}`,
      tags: ['administrator'],
    });
    await eventually(() => ctx.get('rabbitusers', 'platform-root'), isReadyNow, {
      what: 'platform user Ready',
    });
    await ctx.remove('rabbitusers', 'platform-root');
    await ctx.waitGone('rabbitusers', 'platform-root');
    // The owner grants team A the administrator tag: the refused user goes through, without a nudge.
    await ctx.patchSpec('rabbitbrokers', 'local', {
      tenants: [
        { namespaces: [teamA], vhosts: [vA(), `${vA()}-*`], userTags: ['administrator', 'management'] },
        { namespaces: [`${ctx.namespace}-b*`], vhosts: [vB()], userTags: ['management'] },
      ],
    });
    await eventually(() => inNs(teamA).get('rabbitusers', 'root'), isReadyNow, {
      what: 'granted user Ready',
    });
    expect((await ctx.broker.get('/users/root-tenant')).body.tags).toEqual(['administrator']);
  });
});
