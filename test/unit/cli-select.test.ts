import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDefinitions } from '../../src/cli/definitions.ts';
import { buildExport, type ExportOptions } from '../../src/cli/export.ts';
import { inventoryFromDefinitions } from '../../src/cli/inventory.ts';
import { CLI_KINDS } from '../../src/cli/kinds/index.ts';
import { glob, parsePattern } from '../../src/cli/select.ts';

const defs = readDefinitions(join(import.meta.dirname, '..', 'fixtures', 'definitions.json'));
// The fixture, plus what every broker has: '/', its administrator and guest.
defs.vhosts!.push({ name: '/' });
defs.users!.push(
  {
    name: 'warren-admin',
    password_hash: 'x',
    hashing_algorithm: 'rabbit_password_hashing_sha256',
    tags: ['administrator'],
  },
  {
    name: 'guest',
    password_hash: 'y',
    hashing_algorithm: 'rabbit_password_hashing_sha256',
    tags: ['administrator'],
  },
);
defs.permissions!.push(
  { user: 'warren-admin', vhost: '/', configure: '.*', write: '.*', read: '.*' },
  { user: 'warren-admin', vhost: 'orders', configure: '.*', write: '.*', read: '.*' },
  { user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' },
);
defs.queues!.push({ name: 'celery', vhost: '/', durable: true, auto_delete: false, arguments: {} });

const inv = inventoryFromDefinitions(defs, CLI_KINDS, 'test');
const run = (sel: Partial<ExportOptions>) =>
  buildExport(inv, CLI_KINDS, {
    brokerRef: 'local',
    deletionPolicy: 'Retain',
    vhosts: [],
    include: [],
    exclude: [],
    ownUsers: ['warren-admin', 'guest'],
    ...sel,
  });
/** "Kind name" of every manifest. */
const exported = (res: ReturnType<typeof run>) =>
  res.kinds.flatMap((k) => k.manifests.map((m) => `${m.kind.replace('Rabbit', '')} ${m.metadata.name}`));
const has = (res: ReturnType<typeof run>, kind: string) =>
  exported(res)
    .filter((e) => e.startsWith(`${kind} `))
    .map((e) => e.slice(kind.length + 1));

describe('glob', () => {
  it('matches whole broker names: * any characters (slashes too), ? one', () => {
    expect(glob('orders.*').test('orders.created')).toBe(true);
    expect(glob('orders.*').test('xorders.created')).toBe(false);
    expect(glob('billing*').test('billing/eu')).toBe(true);
    expect(glob('q?').test('q1')).toBe(true);
    expect(glob('q?').test('q12')).toBe(false);
    expect(glob('a+b(c)').test('a+b(c)')).toBe(true);
    expect(glob('/').test('/')).toBe(true);
  });

  it('reads a known kind before the colon as the kind, anything else as part of the glob', () => {
    expect(parsePattern('queue:orders.*', ['queue', 'user'])).toMatchObject({ word: 'queue' });
    expect(parsePattern('Queue:x', ['queue'])).toMatchObject({ word: 'queue' });
    expect(parsePattern('host:5672', ['queue'])).not.toHaveProperty('word');
    expect(parsePattern('host:5672', ['queue']).re.test('host:5672')).toBe(true);
  });
});

describe('what an export takes', () => {
  it("by default, everything but '/', the broker's own user and guest, and what needs them", () => {
    const res = run({});
    expect(has(res, 'Vhost')).toEqual(['analytics', 'billing-eu', 'orders']);
    expect(has(res, 'User')).toEqual(['billing-service', 'ops', 'orders-app', 'reporting']);
    expect(has(res, 'Queue')).not.toContain('celery');
    expect(has(res, 'Permission')).not.toContain('warren-admin-orders');
    const reasons = res.left.map((l) => `${l.c.describe}: ${l.reason}`);
    expect(reasons).toContain("vhost '/': in the default vhost '/', left out unless asked for (--vhost /)");
    expect(reasons).toContain(
      "user 'warren-admin': the broker's own user, left out unless asked for (--include user:warren-admin)",
    );
    expect(reasons).toContain(
      "permission of user 'warren-admin' in vhost 'orders': needs user 'warren-admin', which is left out",
    );
  });

  it("--vhost / asks for '/'; --include user:NAME for the broker's own user", () => {
    const res = run({ vhosts: ['/'], include: ['user:guest'] });
    expect(has(res, 'Vhost')).toEqual([expect.stringMatching(/^vhost-[0-9a-f]{6}$/)]);
    expect(has(res, 'Queue')).toEqual(['celery']);
    // With --vhost, users are those something in a selected vhost needs; the include pattern
    // for users decides instead when there is one.
    expect(has(res, 'User')).toEqual(['guest']);
    expect(has(res, 'Permission')).toEqual(['guest']); // user guest in '/'
  });

  it('--vhost selects vhosts by glob, and the users that hold permissions there', () => {
    const res = run({ vhosts: ['billing*'] });
    expect(has(res, 'Vhost')).toEqual(['billing-eu']);
    expect(has(res, 'User')).toEqual(['billing-service', 'ops']);
    // Names collide only among what is exported: this dead-letters queue needs no qualifier here.
    expect(has(res, 'Queue')).toEqual(['dead-letters', 'invoices']);
    expect(has(res, 'Permission')).toEqual(['billing-service-billing-eu', 'ops-billing-eu']);
    expect(has(res, 'Policy')).toEqual(['dlx']);
    expect(has(res, 'OperatorPolicy')).toEqual([]);
  });

  it('--include for one kind narrows that kind only; what needs the rest goes too', () => {
    const res = run({ include: ['queue:orders.*'] });
    expect(has(res, 'Queue')).toEqual(['orders-created', 'orders-retry']);
    expect(has(res, 'Exchange')).toHaveLength(5);
    // Bindings to queues left out go; bindings from amq.topic (never exported) stay when their queue does.
    expect(
      res.kinds
        .find((k) => k.cli.kind.def.kind === 'RabbitBinding')!
        .manifests.map((m) => m.spec!.destination),
    ).toEqual(['orders.internal', 'orders.created', 'orders.created', 'orders.retry']);
  });

  it('--exclude without a kind applies to every kind; with one, to that kind', () => {
    const res = run({ exclude: ['dead-letters', 'user:ops'] });
    expect(has(res, 'Queue')).not.toContain('orders-dead-letters');
    expect(has(res, 'Exchange')).not.toContain('orders-dead-letters');
    expect(has(res, 'User')).not.toContain('ops');
    expect(has(res, 'Permission')).not.toContain('ops-orders');
    // A binding matches by its source or destination.
    expect(exported(res).filter((e) => e.startsWith('Binding') && e.includes('dead-letters'))).toEqual([]);
    const reason = res.left.find((l) => l.c.describe === "queue 'dead-letters' in vhost 'orders'")!.reason;
    expect(reason).toBe('matches --exclude dead-letters');
  });

  it('an excluded vhost takes what lives in it along', () => {
    const res = run({ exclude: ['vhost:orders'] });
    expect(has(res, 'Vhost')).toEqual(['analytics', 'billing-eu']);
    expect(has(res, 'Queue').some((n) => n.startsWith('orders'))).toBe(false);
    expect(has(res, 'OperatorPolicy')).toEqual([]);
    expect(has(res, 'User')).toContain('orders-app'); // users are broker-wide
  });
});
