import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';
import { createCluster, installClusterCRD, type FakeCluster } from '../support/rabbitmqcluster.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// A RabbitBroker pointing at a RabbitmqCluster instead of an endpoint: warren reads the cluster's
// status (default user Secret, Service), takes the Service's management port, and follows changes.
// The Service has no selector and no route here, so the operator is told to reach any Service at
// 127.0.0.1 (in a cluster it is <service>.<namespace>.svc); the port still comes from the Service.
let ctx: TestContext;
let op: RunningOperator;
let other: string;
let cluster: FakeCluster;
const port = () => Number(new URL(ctx.env.managementUrl).port);
const users = () => [1, 2, 3].map((i) => `cluster-admin-${i}-${ctx.namespace}`);

const makeAdmin = async (name: string) => {
  expect(await ctx.broker.put(`/users/${enc(name)}`, { password: 'pw-' + name, tags: 'administrator' })).toBe(
    201,
  );
  for (const vh of ['/', ctx.vhost])
    await ctx.broker.put(`/permissions/${enc(vh)}/${enc(name)}`, {
      configure: '.*',
      write: '.*',
      read: '.*',
    });
};

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  other = `${ctx.namespace}-c`;
  await ctx.core.createNamespace({ body: { metadata: { name: other } } });
  await installClusterCRD(ctx);
  for (const u of users()) await makeAdmin(u);
  cluster = await createCluster(ctx, {
    name: 'rabbit',
    managementPort: port(),
    username: users()[0]!,
    password: `pw-${users()[0]}`,
  });
  op = await startOperator(ctx, { namespaces: [ctx.namespace, other], serviceHost: () => '127.0.0.1' });
}, 120_000);

afterAll(async () => {
  await op?.stop();
  for (const u of users()) await ctx?.broker.del(`/users/${enc(u)}`);
  await ctx?.core.deleteNamespace({ name: other }).catch(() => undefined);
  await ctx?.cleanup();
});

describe('a RabbitBroker discovered from a RabbitmqCluster', () => {
  it("connects through the cluster's Service port with its default user, and serves dependents", async () => {
    await ctx.create('rabbitbrokers', 'discovered', {
      rabbitmqClusterRef: { name: 'rabbit' },
      surveyInterval: '5s',
    });
    const b = await eventually(() => ctx.get('rabbitbrokers', 'discovered'), isReadyNow, {
      what: 'broker Ready',
    });
    expect(b.status.endpoint).toBe(`http://127.0.0.1:${port()}`);
    await ctx.create('rabbitqueues', 'q1', { brokerRef: { name: 'discovered' }, vhost: ctx.vhost });
    await eventually(() => ctx.get('rabbitqueues', 'q1'), isReadyNow, { what: 'q1 Ready' });
    expect((await ctx.broker.get(`/queues/${enc(ctx.vhost)}/q1`)).status).toBe(200);
  });

  it('follows a rotated default user: the old user can be deleted at once', async () => {
    await cluster.setDefaultUser(users()[1]!, `pw-${users()[1]}`);
    // The old credentials stop working; only a client rebuilt from the rotated Secret goes on.
    expect(await ctx.broker.del(`/users/${enc(users()[0]!)}`)).toBe(204);
    await ctx.create('rabbitqueues', 'q2', { brokerRef: { name: 'discovered' }, vhost: ctx.vhost });
    await eventually(() => ctx.get('rabbitqueues', 'q2'), isReadyNow, { what: 'q2 Ready after rotation' });
  });

  it('follows the status to another default user Secret', async () => {
    await ctx.core.createNamespacedSecret({
      namespace: ctx.namespace,
      body: {
        metadata: { name: 'rabbit-other-user' },
        stringData: { user: users()[2]!, pass: `pw-${users()[2]}` },
      },
    });
    await cluster.patchStatus({
      defaultUser: {
        secretReference: { name: 'rabbit-other-user', keys: { username: 'user', password: 'pass' } },
      },
    });
    expect(await ctx.broker.del(`/users/${enc(users()[1]!)}`)).toBe(204);
    await ctx.create('rabbitqueues', 'q3', { brokerRef: { name: 'discovered' }, vhost: ctx.vhost });
    await eventually(() => ctx.get('rabbitqueues', 'q3'), isReadyNow, {
      what: 'q3 Ready after the status moved',
    });
  });

  it('waits, saying why, for a cluster that does not exist yet or has no status', async () => {
    await ctx.create('rabbitbrokers', 'early', { rabbitmqClusterRef: { name: 'later' } });
    const r = await eventually(
      () => ctx.get('rabbitbrokers', 'early'),
      (b) => readyOf(b)?.status === 'False',
    );
    expect(readyOf(r)).toMatchObject({
      reason: 'BrokerNotFound',
      message: expect.stringMatching(/RabbitmqCluster .*\/later not found/),
    });
    const later = await createCluster(ctx, {
      name: 'later',
      managementPort: port(),
      username: ctx.env.adminUser,
      password: ctx.env.adminPassword,
    });
    expect(later.name).toBe('later');
    await eventually(() => ctx.get('rabbitbrokers', 'early'), isReadyNow, {
      what: 'early Ready once the cluster exists',
    });
  });

  it("uses another namespace's cluster only if the cluster's annotation lists this namespace", async () => {
    const remote = await createCluster(ctx, {
      name: 'remote',
      namespace: other,
      managementPort: port(),
      username: ctx.env.adminUser,
      password: ctx.env.adminPassword,
    });
    await ctx.create('rabbitbrokers', 'far', { rabbitmqClusterRef: { name: 'remote', namespace: other } });
    const r = await eventually(
      () => ctx.get('rabbitbrokers', 'far'),
      (b) => readyOf(b)?.status === 'False',
    );
    expect(readyOf(r)).toMatchObject({
      reason: 'NotAllowed',
      message: expect.stringMatching(/rabbitmq.com\/topology-allowed-namespaces/),
    });
    await remote.annotate({ 'rabbitmq.com/topology-allowed-namespaces': `x,${ctx.namespace}` });
    await eventually(() => ctx.get('rabbitbrokers', 'far'), isReadyNow, { what: 'far Ready once allowed' });
  });

  it("reads no Secret or Service outside the cluster's namespace, whatever its status names", async () => {
    // Whoever may write a RabbitmqCluster's status (not only its operator) names another
    // namespace's Secret: warren would read it and send it as Basic auth to a Service of theirs.
    await ctx.core.createNamespacedSecret({
      namespace: other,
      body: { metadata: { name: 'not-yours' }, stringData: { username: 'u', password: 'p' } },
    });
    const sneaky = await createCluster(ctx, {
      name: 'sneaky',
      managementPort: port(),
      username: ctx.env.adminUser,
      password: ctx.env.adminPassword,
    });
    await sneaky.patchStatus({ defaultUser: { secretReference: { name: 'not-yours', namespace: other } } });
    await ctx.create('rabbitbrokers', 'sneaky', { rabbitmqClusterRef: { name: 'sneaky' } });
    const r = await eventually(
      () => ctx.get('rabbitbrokers', 'sneaky'),
      (b) => readyOf(b)?.reason === 'NotAllowed',
      { what: 'sneaky refused' },
    );
    expect(readyOf(r).message).toMatch(
      new RegExp(
        `status.defaultUser.secretReference.namespace is ${other}: only the cluster's own namespace`,
      ),
    );
    await sneaky.patchStatus({
      defaultUser: {
        secretReference: { name: 'sneaky-default-user', namespace: ctx.namespace },
        serviceReference: { name: 'sneaky', namespace: other },
      },
    });
    await eventually(
      () => ctx.get('rabbitbrokers', 'sneaky'),
      (b) => /serviceReference.namespace is/.test(readyOf(b)?.message ?? ''),
      { what: 'sneaky refused for its Service' },
    );
    await sneaky.patchStatus({
      defaultUser: { serviceReference: { name: 'sneaky', namespace: ctx.namespace } },
    });
    await eventually(() => ctx.get('rabbitbrokers', 'sneaky'), isReadyNow, {
      what: 'sneaky Ready in its own namespace',
    });
  });

  it('refuses a RabbitBroker with both an endpoint and a cluster, or neither, at the API server', async () => {
    await expect(
      ctx.create('rabbitbrokers', 'both', {
        endpoint: 'http://x:15672',
        credentialsSecretRef: { name: 'a' },
        rabbitmqClusterRef: { name: 'rabbit' },
      }),
    ).rejects.toThrow(/exactly one of endpoint and rabbitmqClusterRef/);
    await expect(ctx.create('rabbitbrokers', 'neither', {})).rejects.toThrow(
      /exactly one of endpoint and rabbitmqClusterRef/,
    );
  });
});
