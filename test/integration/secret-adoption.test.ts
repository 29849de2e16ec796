import { EventsV1Api, type V1Secret } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passwordMatches } from '../../src/rabbitmq/index.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { createBroker, startOperator, type RunningOperator } from '../support/operator.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// Issue #25: a RabbitUser without credentialsSecretRef generates `<name>-user-credentials`. A
// Secret of that name that warren did not make (an application's own database credentials) is
// someone else's: warren leaves it byte for byte, writes nothing to the broker for the user, and
// says so in status. Secrets warren made are still its own, across restarts.
let ctx: TestContext;
let op: RunningOperator;
let p: string;
const b = { name: 'local' };
const USERS = ['db', 'gen', 'gen2', 'other', 'copy', 'explicit', 'handmade'];

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  p = ctx.namespace;
  await createBroker(ctx);
  op = await startOperator(ctx);
});
afterAll(async () => {
  await op?.stop();
  for (const u of USERS) await ctx?.broker.del(`/users/${enc(`${p}-${u}`)}`);
  await ctx?.cleanup();
});

// Distinctive, so that finding it anywhere is a leak and not a coincidence.
const APP_PASSWORD = `app-db-pw-${randomBytes(8).toString('hex')}`;

const readSecret = (name: string) => ctx.core.readNamespacedSecret({ name, namespace: ctx.namespace });
const decoded = (s: V1Secret) =>
  Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
/** What must not change in a Secret warren leaves alone. */
const untouched = (s: V1Secret) => ({
  resourceVersion: s.metadata?.resourceVersion,
  labels: s.metadata?.labels,
  ownerReferences: s.metadata?.ownerReferences,
  data: s.data,
});
const ready = (name: string) =>
  eventually(() => ctx.get('rabbitusers', name), isReadyNow, { what: `rabbitusers/${name} Ready` });
const refused = (name: string) =>
  eventually(
    () => ctx.get('rabbitusers', name),
    (o) => readyOf(o)?.status === 'False' && readyOf(o)?.reason === 'SecretConflict',
    { what: `rabbitusers/${name} Ready=False SecretConflict` },
  );
const brokerUser = (name: string) => ctx.broker.get(`/users/${enc(`${p}-${name}`)}`);

describe('a Secret of the generated name that warren did not make', () => {
  it('is left untouched, nothing reaches the broker, status says why, and deleting the RabbitUser keeps it', async () => {
    const before = await ctx.core.createNamespacedSecret({
      namespace: ctx.namespace,
      body: {
        metadata: { name: 'db-user-credentials' },
        stringData: { username: 'app', password: APP_PASSWORD, host: 'postgres.internal' },
      },
    });
    await ctx.create('rabbitusers', 'db', { brokerRef: b, username: `${p}-db` });
    const u = await refused('db');
    expect(readyOf(u).message).toContain(`Secret ${p}/db-user-credentials`);
    // Refused: Stalled at this generation, so GitOps tools fail fast instead of waiting.
    expect(u.status.observedGeneration).toBe(u.metadata.generation);

    const after = await readSecret('db-user-credentials');
    expect(untouched(after)).toEqual(untouched(before));
    expect(decoded(after)).toEqual({ username: 'app', password: APP_PASSWORD, host: 'postgres.internal' });
    expect((await brokerUser('db')).status).toBe(404);

    // The refusal is an event; neither it nor status carries the Secret's contents.
    const events = async () =>
      (
        await ctx.kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: ctx.namespace })
      ).items.filter((e) => e.regarding?.name === 'db');
    const seen = await eventually(events, (es) => es.some((e) => e.reason === 'SecretConflict'), {
      what: 'a SecretConflict event',
    });
    for (const text of [JSON.stringify(u), JSON.stringify(seen)]) expect(text).not.toContain(APP_PASSWORD);

    await ctx.remove('rabbitusers', 'db');
    await ctx.waitGone('rabbitusers', 'db');
    expect(untouched(await readSecret('db-user-credentials'))).toEqual(untouched(before));
    expect((await brokerUser('db')).status).toBe(404);
  });

  it('leaves a same-named broker user made by hand when the refused RabbitUser is deleted', async () => {
    const pw = `hand-${randomBytes(6).toString('hex')}`;
    expect(await ctx.broker.put(`/users/${enc(`${p}-handmade`)}`, { password: pw, tags: '' })).toBe(201);
    await ctx.core.createNamespacedSecret({
      namespace: ctx.namespace,
      body: { metadata: { name: 'handmade-user-credentials' }, stringData: { username: 'x', password: 'y' } },
    });
    await ctx.create('rabbitusers', 'handmade', { brokerRef: b, username: `${p}-handmade` });
    await refused('handmade');
    await ctx.remove('rabbitusers', 'handmade');
    await ctx.waitGone('rabbitusers', 'handmade');
    const kept = await brokerUser('handmade');
    expect(kept.status).toBe(200);
    expect(passwordMatches(kept.body.password_hash, kept.body.hashing_algorithm, pw)).toBe(true);
  });

  // The Secret of the test above, now chosen on purpose.
  it('is used when a RabbitUser names it in credentialsSecretRef, still untouched', async () => {
    const before = await readSecret('db-user-credentials');
    await ctx.create('rabbitusers', 'explicit', {
      brokerRef: b,
      username: `${p}-explicit`,
      credentialsSecretRef: { name: 'db-user-credentials' },
    });
    await ready('explicit');
    const stored = (await brokerUser('explicit')).body;
    expect(passwordMatches(stored.password_hash, stored.hashing_algorithm, APP_PASSWORD)).toBe(true);
    expect(untouched(await readSecret('db-user-credentials'))).toEqual(untouched(before));
  });

  it("is refused when it carries warren's label but an owner reference to another RabbitUser", async () => {
    // A real owner, so that the garbage collector keeps the copy while the test looks at it.
    const other = await ctx.create('rabbitusers', 'other', {
      brokerRef: b,
      username: `${p}-other`,
      passwordless: true,
    });
    await ready('other');
    const before = await ctx.core.createNamespacedSecret({
      namespace: ctx.namespace,
      body: {
        metadata: {
          name: 'copy-user-credentials',
          labels: { 'app.kubernetes.io/managed-by': 'warren' },
          ownerReferences: [
            {
              apiVersion: 'warren.dev/v1alpha1',
              kind: 'RabbitUser',
              name: 'other',
              uid: other.metadata.uid,
              controller: true,
            },
          ],
        },
        type: 'Opaque',
        stringData: { username: 'someone', password: APP_PASSWORD },
      },
    });
    await ctx.create('rabbitusers', 'copy', { brokerRef: b, username: `${p}-copy` });
    await refused('copy');
    expect(untouched(await readSecret('copy-user-credentials'))).toEqual(untouched(before));
    expect((await brokerUser('copy')).status).toBe(404);

    await ctx.remove('rabbitusers', 'copy');
    await ctx.waitGone('rabbitusers', 'copy');
    expect(untouched(await readSecret('copy-user-credentials'))).toEqual(untouched(before));
  });
});

describe('a Secret warren generated', () => {
  it('stays its own after a restart: reused, kept in step with a renamed user, never regenerated', async () => {
    await ctx.create('rabbitusers', 'gen', { brokerRef: b, username: `${p}-gen` });
    const u = await ready('gen');
    const made = await readSecret('gen-user-credentials');
    expect(made.metadata?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'warren' });
    expect(made.metadata?.ownerReferences?.map((o) => o.uid)).toEqual([u.metadata.uid]);
    const { password } = decoded(made);

    await op.stop();
    op = await startOperator(ctx);
    await ctx.patchSpec('rabbitusers', 'gen', { username: `${p}-gen2` });
    await eventually(
      () => ctx.get('rabbitusers', 'gen'),
      (o) => isReadyNow(o) && o.status.username === `${p}-gen2`,
      { what: 'rabbitusers/gen Ready as the renamed user' },
    );
    expect(decoded(await readSecret('gen-user-credentials'))).toEqual({ username: `${p}-gen2`, password });
    const stored = (await brokerUser('gen2')).body;
    expect(passwordMatches(stored.password_hash, stored.hashing_algorithm, password!)).toBe(true);
  });
});
