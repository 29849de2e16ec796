import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { crdFile } from '../../src/api/deploy.ts';
import { compileRule, crdSchema, evaluateRule, rulesOf, validate } from '../../src/cli/validate.ts';
import { ALL_KINDS } from '../../src/kinds/index.ts';

const REPO = join(import.meta.dirname, '..', '..');

type Case = { self: unknown; oldSelf?: unknown };

/**
 * For every CEL rule of every CRD: objects it accepts and objects it refuses. A rule added to a
 * schema fails the test below until it has its cases here; a rule the evaluator cannot parse or
 * evaluates wrongly fails it too.
 */
const CASES: Record<string, { pass: Case[]; fail: Case[] }> = {
  "self != '.' && self != '..'": {
    pass: [{ self: 'orders' }, { self: '...' }],
    fail: [{ self: '.' }, { self: '..' }],
  },
  "!self.startsWith('amq.')": {
    pass: [{ self: 'orders' }, { self: 'xamq.' }],
    fail: [{ self: 'amq.gen-1' }],
  },
  "self != 'all'": { pass: [{ self: 'central' }], fail: [{ self: 'all' }] },
  "self != 'amq.default'": { pass: [{ self: 'events' }], fail: [{ self: 'amq.default' }] },
  'self == oldSelf': {
    pass: [
      { self: 'a', oldSelf: 'a' },
      { self: { name: 'b' }, oldSelf: { name: 'b' } },
    ],
    fail: [
      { self: 'a', oldSelf: 'b' },
      { self: { name: 'b' }, oldSelf: { name: 'c' } },
    ],
  },
  'self >= oldSelf': {
    pass: [
      { self: 3, oldSelf: 3 },
      { self: 4, oldSelf: 3 },
    ],
    fail: [{ self: 2, oldSelf: 3 }],
  },
  'size(self) >= size(oldSelf) && oldSelf.all(k, self.indexOf(k) == oldSelf.indexOf(k))': {
    pass: [{ self: ['a', 'b', 'c'], oldSelf: ['a', 'b'] }],
    fail: [
      { self: ['b', 'a'], oldSelf: ['a', 'b'] },
      { self: ['a'], oldSelf: ['a', 'b'] },
    ],
  },
  "type(self) == int ? self >= 1 : self in ['never', 'queue-length']": {
    pass: [{ self: 5 }, { self: 'never' }, { self: 'queue-length' }],
    fail: [{ self: 0 }, { self: 'always' }],
  },
  "duration(self) >= duration('1s') && duration(self) <= duration('10m')": {
    pass: [{ self: '1s' }, { self: '2m30s' }, { self: '10m' }],
    fail: [{ self: '500ms' }, { self: '11m' }],
  },
  "duration(self) >= duration('5s') && duration(self) <= duration('24h')": {
    pass: [{ self: '5s' }, { self: '1.5h' }],
    fail: [{ self: '4s' }, { self: '25h' }],
  },
  '!(has(self.insecureSkipVerify) && self.insecureSkipVerify && has(self.ca))': {
    pass: [{ self: { insecureSkipVerify: true } }, { self: { insecureSkipVerify: false, ca: {} } }],
    fail: [{ self: { insecureSkipVerify: true, ca: {} } }],
  },
  '!(has(self.passwordless) && self.passwordless && has(self.credentialsSecretRef))': {
    pass: [{ self: { passwordless: true } }, { self: { credentialsSecretRef: { name: 's' } } }],
    fail: [{ self: { passwordless: true, credentialsSecretRef: { name: 's' } } }],
  },
  '!(has(self.queue) && has(self.exchange))': {
    pass: [{ self: { queue: 'q' } }, { self: { exchange: 'x' } }],
    fail: [{ self: { queue: 'q', exchange: 'x' } }],
  },
  '!(has(self.routingKey) && has(self.queue))': {
    pass: [{ self: { queue: 'q' } }, { self: { routingKey: 'k', exchange: 'x' } }],
    fail: [{ self: { queue: 'q', routingKey: 'k' } }],
  },
  '!(has(self.vhost) && has(self.vhostRef))': {
    pass: [{ self: { vhost: 'v' } }, { self: { vhostRef: { name: 'v' } } }],
    fail: [{ self: { vhost: 'v', vhostRef: { name: 'v' } } }],
  },
  '!has(self.partitions) || !has(self.routingKeys) || size(self.routingKeys) == self.partitions': {
    pass: [{ self: { partitions: 2 } }, { self: { partitions: 2, routingKeys: ['a', 'b'] } }],
    fail: [{ self: { partitions: 3, routingKeys: ['a', 'b'] } }],
  },
  '!has(self.routingKey) || has(self.exchange)': {
    pass: [{ self: {} }, { self: { routingKey: 'k', exchange: 'x' } }],
    fail: [{ self: { routingKey: 'k' } }],
  },
  "!has(self.tls) || !has(self.endpoint) || self.endpoint.startsWith('https://')": {
    pass: [{ self: { endpoint: 'http://r:15672' } }, { self: { tls: {}, endpoint: 'https://r:15671' } }],
    fail: [{ self: { tls: {}, endpoint: 'http://r:15672' } }],
  },
  "!has(self.type) || self.type != 'stream' || !has(self.deleteIfEmpty) || !self.deleteIfEmpty": {
    pass: [{ self: { type: 'stream' } }, { self: { type: 'classic', deleteIfEmpty: true } }],
    fail: [{ self: { type: 'stream', deleteIfEmpty: true } }],
  },
  "!has(self.type) || self.type == 'classic' || (self.durable && !self.autoDelete)": {
    pass: [
      { self: { durable: false, autoDelete: true } },
      { self: { type: 'quorum', durable: true, autoDelete: false } },
    ],
    fail: [
      { self: { type: 'quorum', durable: false, autoDelete: false } },
      { self: { type: 'stream', durable: true, autoDelete: true } },
    ],
  },
  "self.protocol == 'amqp10' ? !has(self.queue) && !has(self.exchange) && !has(self.routingKey) && !has(self.consumerArgs) && !has(self.queueArgs) : has(self.queue) != has(self.exchange)":
    {
      pass: [
        { self: { protocol: 'amqp091', queue: 'q' } },
        { self: { protocol: 'amqp10', address: '/queues/q' } },
      ],
      fail: [
        { self: { protocol: 'amqp091', queue: 'q', exchange: 'x' } },
        { self: { protocol: 'amqp10', queue: 'q' } },
      ],
    },
  "self.protocol == 'amqp10' ? has(self.address) && !has(self.queue) && !has(self.exchange) && !has(self.routingKey) && !has(self.publishProperties) && !has(self.queueArgs) : !has(self.address) && !has(self.applicationProperties) && !has(self.properties) && !has(self.messageAnnotations)":
    {
      pass: [
        { self: { protocol: 'amqp10', address: '/queues/q' } },
        { self: { protocol: 'amqp091', queue: 'q' } },
      ],
      fail: [
        { self: { protocol: 'amqp10', address: '/q', queue: 'q' } },
        { self: { protocol: 'amqp091', address: '/q' } },
      ],
    },
  "self.protocol == 'amqp10' ? has(self.address) : !has(self.address)": {
    pass: [{ self: { protocol: 'amqp10', address: '/q' } }, { self: { protocol: 'amqp091' } }],
    fail: [{ self: { protocol: 'amqp10' } }, { self: { protocol: 'amqp091', address: '/q' } }],
  },
  'has(self.endpoint) != has(self.rabbitmqClusterRef)': {
    pass: [{ self: { endpoint: 'http://r' } }, { self: { rabbitmqClusterRef: { name: 'c' } } }],
    fail: [{ self: {} }, { self: { endpoint: 'http://r', rabbitmqClusterRef: { name: 'c' } } }],
  },
  'has(self.partitions) || has(self.routingKeys)': {
    pass: [{ self: { partitions: 1 } }, { self: { routingKeys: ['a'] } }],
    fail: [{ self: {} }],
  },
  'has(self.rabbitmqClusterRef) || has(self.credentialsSecretRef)': {
    pass: [
      { self: { rabbitmqClusterRef: { name: 'c' } } },
      { self: { credentialsSecretRef: { name: 's' } } },
    ],
    fail: [{ self: { endpoint: 'http://r' } }],
  },
  'has(self.routingKeys) == has(oldSelf.routingKeys)': {
    pass: [
      { self: { routingKeys: ['a', 'b'] }, oldSelf: { routingKeys: ['a'] } },
      { self: {}, oldSelf: {} },
    ],
    fail: [{ self: { routingKeys: ['a'] }, oldSelf: {} }],
  },
  'has(self.secretKeyRef) != has(self.configMapKeyRef)': {
    pass: [{ self: { secretKeyRef: { name: 's' } } }, { self: { configMapKeyRef: { name: 'c' } } }],
    fail: [{ self: {} }, { self: { secretKeyRef: { name: 's' }, configMapKeyRef: { name: 'c' } } }],
  },
  'has(self.user) != has(self.userRef)': {
    pass: [{ self: { user: 'u' } }, { self: { userRef: { name: 'u' } } }],
    fail: [{ self: {} }, { self: { user: 'u', userRef: { name: 'u' } } }],
  },
  '!has(self.connectionSecret) || has(self.userRef)': {
    pass: [{ self: { user: 'u' } }, { self: { userRef: { name: 'u' }, connectionSecret: { name: 's' } } }],
    fail: [{ self: { user: 'u', connectionSecret: { name: 's' } } }],
  },
};

// The immutableOptional(field) rules: one shape, for each field that has it.
for (const field of ['arguments', 'exchange', 'name', 'type', 'user', 'userRef', 'vhost', 'vhostRef']) {
  CASES[
    `has(self.${field}) == has(oldSelf.${field}) && (!has(self.${field}) || self.${field} == oldSelf.${field})`
  ] = {
    pass: [
      { self: {}, oldSelf: {} },
      { self: { [field]: { a: 1, b: 'x' } }, oldSelf: { [field]: { b: 'x', a: 1 } } },
      { self: { [field]: 'q' }, oldSelf: { [field]: 'q' } },
    ],
    fail: [
      { self: { [field]: 'q' }, oldSelf: {} },
      { self: {}, oldSelf: { [field]: 'q' } },
      { self: { [field]: 'q' }, oldSelf: { [field]: 'r' } },
      { self: { [field]: { a: 1 } }, oldSelf: { [field]: { a: 2 } } },
    ],
  };
}

const everyRule = ALL_KINDS.flatMap((def) => rulesOf(crdSchema(def)).map((r) => ({ ...r, kind: def.kind })));

describe('offline validation: the CRDs', () => {
  it('is made from the very CRDs in crds/', () => {
    for (const def of ALL_KINDS) {
      const file = parse(readFileSync(join(REPO, 'crds', crdFile(def.plural)), 'utf8'));
      expect(crdSchema(def), def.kind).toEqual(file.spec.versions[0].schema.openAPIV3Schema);
    }
    expect(readdirSync(join(REPO, 'crds')).filter((f) => f.startsWith('warren.dev_'))).toHaveLength(
      ALL_KINDS.length,
    );
  });

  it('has rules to check (every kind has some)', () => {
    expect(everyRule.length).toBeGreaterThan(60);
    for (const def of ALL_KINDS)
      expect(
        everyRule.some((r) => r.kind === def.kind),
        def.kind,
      ).toBe(true);
  });

  it.each(everyRule.map((r) => [`${r.kind} ${r.path}: ${r.rule}`, r] as const))(
    'evaluates %s on objects it accepts and objects it refuses',
    (_, r) => {
      const cases = CASES[r.rule];
      expect(cases, `no cases for the rule ${r.rule} (add them to CASES)`).toBeDefined();
      expect(() => compileRule(r.rule)).not.toThrow();
      expect(cases!.pass.length && cases!.fail.length).toBeTruthy();
      for (const c of cases!.pass)
        expect(evaluateRule(r.rule, r.node, c.self, c.oldSelf), JSON.stringify(c)).toBe(true);
      for (const c of cases!.fail)
        expect(evaluateRule(r.rule, r.node, c.self, c.oldSelf), JSON.stringify(c)).toBe(false);
    },
  );

  it('has no cases for rules no CRD has any more', () => {
    const rules = new Set(everyRule.map((r) => r.rule));
    expect(Object.keys(CASES).filter((k) => !rules.has(k))).toEqual([]);
  });
});

const kindOf = (name: string) => ALL_KINDS.find((k) => k.kind === name)!;
const check = (kind: string, spec: unknown, metadata: Record<string, unknown> = { name: 'x' }) =>
  validate(kindOf(kind), { apiVersion: 'warren.dev/v1alpha1', kind, metadata, spec });

describe('offline validation of a manifest', () => {
  it('accepts every example manifest the project ships', () => {
    const dir = join(REPO, 'examples');
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.ya?ml$/.test(f));
    let seen = 0;
    for (const f of files) {
      for (const d of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
        const doc = d.toJS();
        if (doc?.apiVersion !== 'warren.dev/v1alpha1') continue;
        seen++;
        expect(validate(kindOf(doc.kind), doc).violations, `${f} ${doc.metadata.name}`).toEqual([]);
      }
    }
    expect(seen).toBeGreaterThan(20);
  });

  it('fills in defaults before the rules read them, as the API server does', () => {
    const r = check('RabbitQueue', { brokerRef: { name: 'local' }, type: 'quorum' });
    expect(r.violations).toEqual([]);
    expect(r.object.spec).toMatchObject({
      durable: true,
      autoDelete: false,
      vhost: '/',
      deletionPolicy: 'Delete',
    });
  });

  it('refuses unknown fields at any depth, but not inside free-form maps', () => {
    const r = check('RabbitQueue', {
      brokerRef: { name: 'local', nmae: 'x' },
      durabel: true,
      arguments: { 'x-anything': { nested: 1 } },
    });
    expect(r.violations).toEqual([
      { field: 'spec.brokerRef.nmae', message: 'unknown field "spec.brokerRef.nmae"', status: 400 },
      { field: 'spec.durabel', message: 'unknown field "spec.durabel"', status: 400 },
    ]);
  });

  it('checks types, bounds, enums, patterns and list sets', () => {
    const fields = (kind: string, spec: unknown) => check(kind, spec).violations.map((v) => v.field);
    expect(fields('RabbitQueue', { brokerRef: { name: 'l' }, durable: 'yes' })).toEqual(['spec.durable']);
    expect(fields('RabbitQueue', { brokerRef: { name: '' } })).toEqual(['spec.brokerRef.name']);
    expect(fields('RabbitExchange', { brokerRef: { name: 'l' }, deletionPolicy: 'Keep' })).toEqual([
      'spec.deletionPolicy',
    ]);
    expect(fields('RabbitUser', { brokerRef: { name: 'l' }, tags: ['a,b'] })).toEqual(['spec.tags[0]']);
    expect(fields('RabbitSuperStream', { brokerRef: { name: 'l' }, routingKeys: ['a', 'a'] })).toEqual([
      'spec.routingKeys[1]',
    ]);
    expect(fields('RabbitBroker', { endpoint: 'ftp://x', credentialsSecretRef: { name: 's' } })).toEqual([
      'spec.endpoint',
    ]);
  });

  it('evaluates rules on nested objects and at the top of the spec, but no transition rule on create', () => {
    expect(check('RabbitQueue', { brokerRef: { name: 'l' }, name: 'amq.q' }).violations).toEqual([
      {
        field: 'spec.name',
        message: "Invalid value: names starting with 'amq.' are reserved by the broker",
        status: 422,
      },
    ]);
    expect(
      check('RabbitPermission', {
        brokerRef: { name: 'l' },
        vhost: 'v',
        user: 'u',
        userRef: { name: 'u' },
        configure: '.*',
        write: '.*',
        read: '.*',
      }).violations.map((v) => v.field),
    ).toEqual(['spec']);
  });

  it('checks metadata.name as the API server does', () => {
    expect(
      check('RabbitVhost', { brokerRef: { name: 'l' } }, { name: 'jack_vhost' }).violations[0],
    ).toMatchObject({
      field: 'metadata.name',
      status: 422,
    });
    expect(check('RabbitVhost', { brokerRef: { name: 'l' } }, {}).violations[0]).toMatchObject({
      field: 'metadata.name',
    });
  });
});
