import * as k8s from '@kubernetes/client-node';
import amqp from 'amqplib';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { GROUP, VERSION } from '../../src/api/common.ts';
import { toYaml } from '../../src/cli/export.ts';
import { ALL_KINDS } from '../../src/kinds/index.ts';
import { warren } from '../support/cli.ts';
import type { TestContext } from '../support/context.ts';
import { REPO } from '../support/environment.ts';
import { enc } from '../support/management.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// What `warren diff` says of a manifest is what then happens when it is applied, for every kind:
// `create` is created and Ready; `change` is applied and Ready; `refused` is Ready=False with the
// broker's refusal; `invalid` is refused by the API server (422, or 400 for an unknown field
// under kubectl's default Strict field validation). And a definitions file in an old shape,
// exported, applies and converges, after which diff finds nothing to do.
let ctx: TestContext;
let work: string;
let v4: boolean;
/** Known when the tests are collected: the 4.x file is skipped on older brokers. */
const brokerIsV4 = Number(inject('env').rabbitmqVersion.split('.')[0]) >= 4;
useOperator(
  import.meta.url,
  (c) => {
    ctx = c;
    work = mkdtempSync(join(ctx.env.dir, `truth-${ctx.namespace}-`));
    v4 = Number(ctx.env.rabbitmqVersion.split('.')[0]) >= 4;
  },
  {
    cleanup: async (c) => {
      for (const v of [`${c.vhost}-own`, `${c.vhost}-legacy`]) await c.broker.del(`/vhosts/${enc(v)}`);
      for (const u of ['user', 'legacy-admin', 'legacy-worker'])
        await c.broker.del(`/users/${c.namespace}-${u}`);
    },
  },
);

const pluralOf = (kind: string) => ALL_KINDS.find((k) => k.kind === kind)!.plural;

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, any>;
}

const doc = (kind: string, name: string, spec: Record<string, unknown>): Doc => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind,
  metadata: { name },
  spec: { brokerRef: { name: 'local' }, ...spec },
});

const env = () => ({
  RABBITMQ_MANAGEMENT_URL: ctx.env.managementUrl,
  RABBITMQ_ADMIN_USER: ctx.env.adminUser,
  RABBITMQ_ADMIN_PASSWORD: ctx.env.adminPassword,
});

/** diff's word for each resource ("Kind/name"), for the manifests in `docs` (or the given paths). */
async function words(
  docsOrPaths: Doc[] | string[],
): Promise<{ code: number; words: Record<string, string>; report: any }> {
  let paths: string[];
  if (typeof docsOrPaths[0] === 'string') paths = docsOrPaths as string[];
  else {
    const dir = join(work, `diff-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'all.yaml'), toYaml(docsOrPaths as Doc[]));
    paths = [dir];
  }
  const r = await warren(['diff', ...paths, '-n', ctx.namespace, '-o', 'json'], env());
  expect([0, 1], r.stderr).toContain(r.code);
  const report = JSON.parse(r.stdout);
  return {
    code: r.code,
    report,
    words: Object.fromEntries(report.rows.map((x: any) => [`${x.kind}/${x.name}`, x.action])),
  };
}

/** Creates a resource as kubectl apply would send it (server-side field validation Strict). */
const create = (d: Doc) =>
  ctx.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ctx.namespace,
    plural: pluralOf(d.kind),
    body: d,
    fieldValidation: 'Strict',
  });

/** What the API server answers a create: 201, or its error code and message. */
async function answer(d: Doc): Promise<{ code: number; message: string }> {
  try {
    await create(d);
    return { code: 201, message: '' };
  } catch (err) {
    if (!(err instanceof k8s.ApiException)) throw err;
    const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return { code: err.code, message: body?.message ?? '' };
  }
}

const get = (d: Doc) => ctx.get(pluralOf(d.kind), d.metadata.name);
const ready = (d: Doc) =>
  eventually(() => get(d), isReadyNow, { what: `${d.kind} ${d.metadata.name} Ready`, timeoutMs: 60_000 });
const refusedNow = (d: Doc) =>
  eventually(
    () => get(d),
    (o) => readyOf(o)?.status === 'False' && readyOf(o)?.reason === 'Rejected',
    { what: `${d.kind} ${d.metadata.name} Rejected`, timeoutMs: 60_000 },
  );

const key = (d: Doc) => `${d.kind}/${d.metadata.name}`;

describe('warren diff, then apply: the word was what happened', () => {
  it('create, change, refused and invalid, for every kind', async () => {
    const vh = ctx.vhost;
    const user = `${ctx.namespace}-user`;
    const uri = `amqp:///${encodeURIComponent(vh)}`;
    await ctx.core.createNamespacedSecret({
      namespace: ctx.namespace,
      body: { metadata: { name: 'truth-uris' }, stringData: { srcUri: uri, destUri: uri, uri } },
    });

    // What the broker holds already, made outside warren: the refusals are about these.
    expect(await ctx.broker.put(`/queues/${enc(vh)}/refused-durable`, { durable: true })).toBe(201);
    expect(
      await ctx.broker.put(`/queues/${enc(vh)}/refused-args`, {
        durable: true,
        arguments: { 'x-max-length': 5 },
      }),
    ).toBe(201);
    expect(
      await ctx.broker.put(`/exchanges/${enc(vh)}/refused-type`, { type: 'direct', durable: true }),
    ).toBe(201);
    expect(
      await ctx.broker.put(`/exchanges/${enc(vh)}/refused-ae`, {
        type: 'fanout',
        durable: true,
        arguments: { 'alternate-exchange': 'ae-1' },
      }),
    ).toBe(201);

    // An argument the broker does not compare (x-anything): it takes the declaration and keeps its own.
    expect(
      await ctx.broker.put(`/queues/${enc(vh)}/refused-other-arg`, {
        durable: true,
        arguments: { 'x-note': 'a' },
      }),
    ).toBe(201);

    const creates: Doc[] = [
      doc('RabbitVhost', 'own', { name: `${vh}-own`, description: 'made by the truth test' }),
      // Passwordless: a generated password's Secret is not among the manifests diff reads.
      doc('RabbitUser', 'user', { username: user, tags: ['app'], passwordless: true }),
      doc('RabbitPermission', 'perm', { vhost: vh, user, configure: '', write: '.*', read: '.*' }),
      doc('RabbitTopicPermission', 'topic-perm', {
        vhost: vh,
        user,
        exchange: 'amq.topic',
        write: '.*',
        read: '.*',
      }),
      doc('RabbitQueue', 'q', { vhost: vh, name: 'truth.q' }),
      doc('RabbitQueue', 'shovel-in', { vhost: vh, name: 'shovel.in' }),
      doc('RabbitExchange', 'x', { vhost: vh, name: 'truth.x', type: 'topic' }),
      doc('RabbitBinding', 'b', {
        vhost: vh,
        source: 'truth.x',
        destination: 'truth.q',
        destinationType: 'queue',
        routingKey: 'k',
      }),
      doc('RabbitPolicy', 'pol', { vhost: vh, pattern: '^truth\\.q$', definition: { 'max-length': 10 } }),
      doc('RabbitOperatorPolicy', 'op', {
        vhost: vh,
        pattern: '^truth\\.',
        definition: { 'max-length': 100 },
      }),
      doc('RabbitShovel', 'shovel', {
        vhost: vh,
        uriSecretRef: { name: 'truth-uris' },
        source: { queue: 'shovel.in' },
        destination: { queue: 'shovel.out' },
        reconnectDelay: 1,
      }),
      doc('RabbitFederation', 'fed', { vhost: vh, uriSecretRef: { name: 'truth-uris' }, expires: 600_000 }),
      doc('RabbitFederation', 'fed2', { vhost: vh, uriSecretRef: { name: 'truth-uris' } }),
      doc('RabbitFederationUpstreamSet', 'fedset', { vhost: vh, upstreams: [{ name: 'fed' }] }),
      ...(v4 ? [doc('RabbitSuperStream', 'ss', { vhost: vh, name: 'truth.ss', partitions: 2 })] : []),
    ];
    const refused: Doc[] = [
      doc('RabbitQueue', 'refused-durable', {
        vhost: vh,
        name: 'refused-durable',
        type: 'classic',
        durable: false,
      }),
      doc('RabbitQueue', 'refused-args', {
        vhost: vh,
        name: 'refused-args',
        arguments: { 'x-max-length': 10 },
      }),
      doc('RabbitExchange', 'refused-type', { vhost: vh, name: 'refused-type', type: 'topic' }),
      doc('RabbitExchange', 'refused-ae', {
        vhost: vh,
        name: 'refused-ae',
        type: 'fanout',
        arguments: { 'alternate-exchange': 'ae-2' },
      }),
    ];
    const ignored = doc('RabbitQueue', 'refused-other-arg', {
      vhost: vh,
      name: 'refused-other-arg',
      arguments: { 'x-note': 'b' },
    });
    // Every kind with a value its schema refuses (422), plus a CEL rule and an unknown field.
    const invalid: Doc[] = [
      ...creates.map((d) => ({
        ...d,
        metadata: { name: `bad-${d.metadata.name}` },
        spec: { ...d.spec, deletionPolicy: 'Keep' },
      })),
      doc('RabbitQueue', 'bad-quorum', { vhost: vh, name: 'bad.quorum', type: 'quorum', durable: false }),
      doc('RabbitQueue', 'misspelt', { vhost: vh, name: 'misspelt', durabel: true }),
    ];

    const first = await words([...creates, ...refused, ignored, ...invalid]);
    expect(first.code).toBe(1);
    const expected = Object.fromEntries([
      ...creates.map((d) => [key(d), 'create']),
      ...refused.map((d) => [key(d), 'refused']),
      [key(ignored), 'refused'],
      ...invalid.map((d) => [key(d), 'invalid']),
    ]);
    expect(first.words).toEqual(expected);

    // Applied: the API server refuses the invalid ones as diff said.
    for (const d of invalid) {
      const a = await answer(d);
      if (d.metadata.name === 'misspelt') {
        expect(a.code, a.message).toBe(400);
        expect(a.message).toContain('unknown field "spec.durabel"');
      } else {
        expect(a.code, `${key(d)}: ${a.message}`).toBe(422);
      }
    }
    expect((await answer(invalid.find((d) => d.metadata.name === 'bad-quorum')!)).message).toMatch(
      /quorum queues and streams must be durable and not autoDelete/,
    );
    for (const d of [...creates, ...refused]) await create(d);
    for (const d of creates) await ready(d);
    for (const d of refused) {
      const o = await refusedNow(d);
      // e.g. "PUT /api/queues/...: 400 inequivalent arg 'durable' for queue ...: received 'false' but current is 'true'"
      expect(readyOf(o).message, key(d)).toMatch(
        /: 400 inequivalent arg '[^']+' for (queue|exchange) .*but current is/,
      );
    }
    // The argument the broker does not compare stays as it was: diff was right that warren cannot
    // change it. (The operator reports that resource Ready, "applied to the broker": see #26.)
    await create(ignored);
    await eventually(
      () => get(ignored),
      (o) => o.status?.observedGeneration === 1,
      { what: 'refused-other-arg reconciled' },
    );
    // (4.x adds x-queue-type beside it.)
    expect((await ctx.broker.get(`/queues/${enc(vh)}/refused-other-arg`)).body.arguments['x-note']).toBe('a');
    expect((await words([ignored])).words).toEqual({ [key(ignored)]: 'refused' });

    // Changes: diff says change for what the broker can change, and they are applied.
    const changed = new Map<string, (s: Record<string, any>) => void>([
      ['RabbitVhost/own', (s) => (s.description = 'changed')],
      ['RabbitUser/user', (s) => (s.tags = ['app', 'management'])],
      ['RabbitPermission/perm', (s) => (s.read = '^truth')],
      ['RabbitTopicPermission/topic-perm', (s) => (s.write = '^k$')],
      ['RabbitPolicy/pol', (s) => (s.priority = 3)],
      ['RabbitOperatorPolicy/op', (s) => (s.definition = { 'max-length': 50 })],
      ['RabbitShovel/shovel', (s) => (s.reconnectDelay = 2)],
      ['RabbitFederation/fed', (s) => (s.expires = 300_000)],
      ['RabbitFederationUpstreamSet/fedset', (s) => (s.upstreams = [{ name: 'fed' }, { name: 'fed2' }])],
      ...(v4 ? [['RabbitSuperStream/ss', (s: Record<string, any>) => (s.partitions = 3)] as const] : []),
    ]);
    const next = creates.map((d) => {
      const c = structuredClone(d);
      changed.get(key(d))?.(c.spec);
      return c;
    });
    const second = await words([...next, ...refused]);
    expect(second.words).toEqual(
      Object.fromEntries([
        ...next.map((d) => [key(d), changed.has(key(d)) ? 'change' : 'unchanged']),
        ...refused.map((d) => [key(d), 'refused']),
      ]),
    );
    for (const d of next.filter((x) => changed.has(key(x)))) {
      await ctx.custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace: ctx.namespace,
          plural: pluralOf(d.kind),
          name: d.metadata.name,
          body: { spec: d.spec },
          fieldValidation: 'Strict',
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    }
    for (const d of next) await ready(d);
    // And then nothing is left to do but what the broker refuses.
    const third = await words(next);
    expect(
      Object.values(third.words).every((w) => w === 'unchanged'),
      JSON.stringify(third.report.rows),
    ).toBe(true);
    expect(third.code).toBe(0);
  }, 240_000);
});

/** Broker vhosts and users this file made (removed after the operator stopped). */
const made = { vhosts: [] as string[], users: [] as string[] };

/** A definitions file with its vhost and user names made this test's own. */
function ownNames(defs: any): any {
  const vhost = (v: string) => `${ctx.vhost}-${v}`;
  const user = (u: string) => `${ctx.namespace}-${u}`;
  for (const v of defs.vhosts ?? []) made.vhosts.push((v.name = vhost(v.name)));
  for (const u of defs.users ?? []) made.users.push((u.name = user(u.name)));
  for (const s of [
    'permissions',
    'topic_permissions',
    'parameters',
    'policies',
    'queues',
    'exchanges',
    'bindings',
  ])
    for (const e of defs[s] ?? []) {
      e.vhost = vhost(e.vhost);
      if (e.user) e.user = user(e.user);
    }
  return defs;
}

// Each file, with a user whose password it carries only as a hash, and how many objects it
// exports (the rest are left out, saying why). The 4.x file needs a 4.x broker (an operator
// policy's overflow key).
const SHAPES = [
  {
    file: 'definitions-3.5-era.json',
    login: ['legacy-worker', 'worker-pw', 'legacy'],
    exported: 12,
    left: 3,
  },
  {
    file: 'definitions-management-ui.json',
    login: ['ui-app', 'ui-app-pw', 'ui-shop'],
    exported: 12,
    left: 1,
  },
  {
    file: 'definitions-4.x.json',
    login: ['shipping-reports', 'reports-pw', 'shipping'],
    exported: 16,
    left: 0,
    v4: true,
  },
];

describe('a definitions file in a shape found in the wild, exported and applied, converges', () => {
  for (const { file, login, exported, left, v4: needs4 } of SHAPES) {
    (needs4 && !brokerIsV4 ? it.skip : it)(
      file,
      async () => {
        const defs = ownNames(JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', file), 'utf8')));
        const path = join(work, file);
        writeFileSync(path, JSON.stringify(defs));
        const dir = join(work, file.replace(/\.json$/, ''));
        const exp = await warren([
          'export',
          '--definitions',
          path,
          '--dir',
          dir,
          '--deletion-policy',
          'Delete',
        ]);
        expect(exp.code, exp.stderr).toBe(0);
        if (left) expect(exp.stderr).toContain(`left out: ${left}\n`);
        else expect(exp.stderr).not.toContain('left out');
        expect(exp.stderr).not.toContain('not valid as');

        const kubectl = (...args: string[]) =>
          promisify(execFile)(
            ctx.env.kubectl,
            ['--kubeconfig', ctx.env.kubeconfigPath, '-n', ctx.namespace, ...args],
            {
              encoding: 'utf8',
              timeout: 150_000,
            },
          );
        // kubectl's own checks (server-side, Strict field validation) accept every manifest.
        await kubectl('apply', '-k', `${dir}-credentials`);
        await kubectl('apply', '-k', dir);
        const before = await words([dir, `${dir}-credentials`]);
        const names = Object.keys(before.words);
        expect(names.length).toBe(exported);
        for (const name of names) {
          const [kind, n] = name.split('/') as [string, string];
          await ready({ apiVersion: '', kind, metadata: { name: n }, spec: {} });
        }
        const after = await words([dir, `${dir}-credentials`]);
        expect(after.words).toEqual(Object.fromEntries(names.map((n) => [n, 'unchanged'])));
        expect(after.code).toBe(0);

        // The hash travelled with its algorithm: the user logs in with the password it had.
        const [user, password, vhost] = login as [string, string, string];
        const host = new URL(ctx.env.amqpUrl).host;
        const conn = await amqp.connect(
          `amqp://${encodeURIComponent(`${ctx.namespace}-${user}`)}:${password}@${host}/${encodeURIComponent(`${ctx.vhost}-${vhost}`)}`,
        );
        await conn.close();
      },
      180_000,
    );
  }
});
