import { describe, expect, it } from 'vitest';
import type { BrokerResource } from '../../src/kinds/brokers.ts';
import fc from 'fast-check';
import { brokerTags } from '../../src/rabbitmq/index.ts';
import { adoptionRefusal, isLoopback, matches, refusal, uriReach } from '../../src/kinds/tenancy.ts';

const broker = (tenants?: unknown): BrokerResource =>
  ({
    apiVersion: 'warren.dev/v1alpha1',
    kind: 'RabbitBroker',
    metadata: { name: 'shared', namespace: 'infra', uid: 'u' },
    spec: {
      endpoint: 'http://r:15672',
      credentialsSecretRef: { name: 'admin' },
      allowedNamespaces: ['*'],
      tenants,
    },
  }) as BrokerResource;

const twoTeams = broker([
  { namespaces: ['team-a'], vhosts: ['team-a', 'team-a-*'] },
  { namespaces: ['team-b*'], vhosts: ['team-b'], userTags: ['management', 'policymaker'] },
  { namespaces: ['sandbox-*'], vhosts: [] },
]);

describe('patterns', () => {
  it.each([
    ['team-*', 'team-a', true],
    ['team-*', 'team-', true],
    ['team-*', 'xteam-a', false],
    ['*-prod', 'shop-prod', true],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'acb', false],
    ['ab*ba', 'aba', false],
    ['*', '', true],
    ['/', '/', true],
    ['team.a', 'teamxa', false],
  ])('%s matches %s: %s', (p, v, want) => expect(matches(p, v)).toBe(want));
});

describe('tenancy', () => {
  it("never restricts the broker's own namespace", () => {
    expect(
      refusal(twoTeams, 'infra', { vhost: '/', user: { name: 'root', tags: ['administrator'] } }),
    ).toBeUndefined();
    expect(
      refusal(twoTeams, 'infra', { user: { name: 'admin', tags: [] } }, { username: 'admin' }),
    ).toBeUndefined();
  });

  it('confines a team to its vhosts, naming the rule', () => {
    expect(refusal(twoTeams, 'team-a', { vhost: 'team-a-orders' })).toBeUndefined();
    expect(refusal(twoTeams, 'team-a', { vhost: 'team-b' })).toBe(
      "RabbitBroker infra/shared spec.tenants[0] (namespaces team-a) allows only vhosts team-a, team-a-*, not 'team-b'",
    );
    expect(refusal(twoTeams, 'sandbox-1', { vhost: '/' })).toMatch(
      /spec.tenants\[2\].*allows no vhost, not '\/'/,
    );
  });

  it('refuses privileged tags unless the rule lists them', () => {
    expect(
      refusal(twoTeams, 'team-a', { user: { name: 'a', tags: ['management', 'jack_tag'] } }),
    ).toBeUndefined();
    for (const tag of ['administrator', 'policymaker', 'impersonator', 'monitoring']) {
      expect(refusal(twoTeams, 'team-a', { user: { name: 'a', tags: [tag] } })).toBe(
        `RabbitBroker infra/shared spec.tenants[0] (namespaces team-a) does not grant tag '${tag}': list it in the rule's userTags to allow it`,
      );
    }
    // A rule that lists tags allows only those.
    expect(refusal(twoTeams, 'team-b2', { user: { name: 'b', tags: ['policymaker'] } })).toBeUndefined();
    expect(refusal(twoTeams, 'team-b2', { user: { name: 'b', tags: ['monitoring'] } })).toMatch(
      /spec.tenants\[1\] .*allows user tags management, policymaker, not 'monitoring'/,
    );
  });

  it('applies the default rule to an admitted namespace no rule matches', () => {
    expect(refusal(twoTeams, 'other', { vhost: 'anything' })).toBeUndefined();
    expect(refusal(broker(), 'other', { user: { name: 'x', tags: ['administrator'] } })).toMatch(
      /no spec.tenants rule matches namespace other: the default rule\) does not grant tag 'administrator'/,
    );
  });

  it("lets nobody else declare the broker's own user", () => {
    expect(refusal(broker(), 'team-a', { user: { name: 'admin', tags: [] } }, { username: 'admin' })).toMatch(
      /user 'admin' is the broker's own administrator/,
    );
  });
});

describe('tags as the broker reads them (attack: one string that is two tags)', () => {
  it.each([
    ['management,administrator'],
    ['management, administrator'],
    [' administrator'],
    ['administrator '],
    ['ADMINISTRATOR'],
    [',monitoring'],
    ['administrator\u200e'],
    ['\u0085policymaker'],
  ])('refuses %j for a rule without userTags', (tag) => {
    expect(refusal(twoTeams, 'team-a', { user: { name: 'a', tags: ['management', tag] } })).toBeDefined();
  });

  it("checks each comma-separated part against a rule's patterns (mon* does not admit administrator)", () => {
    const b = broker([{ namespaces: ['t'], userTags: ['mon*'] }]);
    expect(refusal(b, 't', { user: { name: 'a', tags: ['monitoring'] } })).toBeUndefined();
    expect(refusal(b, 't', { user: { name: 'a', tags: ['monitoring,administrator'] } })).toMatch(
      /allows user tags mon\*, not 'administrator'/,
    );
  });

  it('property: whatever the guard admits holds no privileged tag once the broker has split and trimmed it', () => {
    const piece = fc.constantFrom(
      'management',
      'administrator',
      'Monitoring',
      'policymaker',
      'impersonator',
      'x',
    );
    const sep = fc.constantFrom('', ',', ' ', ', ', '\t', '\u00a0', '\u200e', '\u0085', '\ufeff');
    const tag = fc
      .array(fc.tuple(sep, piece, sep), { minLength: 1, maxLength: 3 })
      .map((xs) => xs.flat().join(''));
    fc.assert(
      fc.property(fc.array(tag, { maxLength: 4 }), (tags) => {
        if (refusal(twoTeams, 'team-a', { user: { name: 'a', tags } }) !== undefined) return;
        // A stricter reading than JavaScript's trim: every space and format character taken off the ends.
        const read = tags
          .join(',')
          .split(',')
          .map((t) => t.replace(/^[\p{White_Space}\p{Cf}]+|[\p{White_Space}\p{Cf}]+$/gu, '').toLowerCase());
        for (const t of read)
          expect(['administrator', 'policymaker', 'impersonator', 'monitoring']).not.toContain(t);
        expect(brokerTags(tags).map((t) => t.toLowerCase())).toEqual(read.filter((t) => t !== ''));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('rules beyond vhosts and tags', () => {
  it('refuses operator policies to tenants unless the rule allows them', () => {
    expect(refusal(twoTeams, 'team-a', { vhost: 'team-a', operatorPolicy: true })).toMatch(
      /does not allow operator policies/,
    );
    const b = broker([{ namespaces: ['t'], operatorPolicies: true }]);
    expect(refusal(b, 't', { vhost: 'v', operatorPolicy: true })).toBeUndefined();
    expect(refusal(b, 'infra', { vhost: 'v', operatorPolicy: true })).toBeUndefined();
  });

  it('lets a rule say which vhosts a tenant may declare and which it may only use', () => {
    const b = broker([{ namespaces: ['t'], vhosts: ['shared', 't-*'], declareVhosts: ['t-*'] }]);
    expect(refusal(b, 't', { vhost: 'shared' })).toBeUndefined();
    expect(refusal(b, 't', { declaresVhost: 't-1' })).toBeUndefined();
    expect(refusal(b, 't', { declaresVhost: 'shared' })).toMatch(/declare only vhosts t-\* .*not 'shared'/);
  });

  it('refuses namespaces the broker does not admit, whatever they touch', () => {
    const b = { ...twoTeams, spec: { ...twoTeams.spec, allowedNamespaces: ['team-a'] } } as BrokerResource;
    expect(refusal(b, 'team-b', {})).toMatch(/does not list namespace team-b in allowedNamespaces/);
    expect(refusal(b, 'team-a', { vhost: 'team-a' })).toBeUndefined();
  });

  it('lets a tenant adopt only users its namespace made, or that its rule lists', () => {
    const b = broker([{ namespaces: ['t'], adoptUsers: ['legacy-*'] }]);
    expect(adoptionRefusal(b, 't', 'u', 't')).toBeUndefined();
    expect(adoptionRefusal(b, 't', 'legacy-1', undefined)).toBeUndefined();
    expect(adoptionRefusal(b, 't', 'u', undefined)).toMatch(/user 'u' already exists .*adoptUsers/);
    expect(adoptionRefusal(b, 't', 'u', 'other')).toMatch(/made by namespace other's resources/);
    expect(adoptionRefusal(b, 'infra', 'u', 'other')).toBeUndefined();
  });
});

describe('URIs (attack: a shovel or upstream into another vhost)', () => {
  const b = broker([{ namespaces: ['team-b'], vhosts: ['team-b'] }]);
  const facts = { username: 'admin', hosts: ['rabbitmq.infra.svc'] };
  const no = (uri: string) => refusal(b, 'team-b', { vhost: 'team-b', uris: [uri] }, facts);

  it.each([
    ['amqp:///team-a', /direct URI/],
    ['amqp://', /direct URI/],
    ['amqp:team-a', /no \/\/host/],
    ['amqp://u:p@localhost/team-a', /own machine/],
    ['amqp://u:p@LOCALHOST./team-a', /own machine/],
    ['amqp://u:p@127.0.0.1/team-a', /own machine/],
    ['amqp://u:p@127.1/team-a', /own machine/],
    ['amqp://u:p@2130706433/team-a', /own machine/],
    ['amqp://u:p@0x7f000001/team-a', /own machine/],
    ['amqp://u:p@0177.0.0.1/team-a', /own machine/],
    ['amqp://u:p@0.0.0.0/team-a', /own machine/],
    ['amqp://u:p@[::1]/team-a', /own machine/],
    ['amqp://u:p@[0:0:0:0:0:0:0:1]/team-a', /own machine/],
    ['amqp://u:p@[::ffff:127.0.0.1]/team-a', /own machine/],
    ['amqp://u:p@x.localhost/team-a', /own machine/],
    ['amqp://other-broker/team-a', /names no user/],
    ['amqp://u:p@rabbitmq.infra.svc/team-a', /only vhosts team-b, not 'team-a'/],
    ['amqp://u:p@RabbitMQ.infra.svc.cluster.local:5672/team-a', /not 'team-a'/],
    ['amqp://u:p@rabbitmq.infra/team-a', /not 'team-a'/],
    ['amqp://u:p@rabbitmq.infra.svc/%2F', /not '\/'/],
    ['amqp://u:p@rabbitmq.infra.svc', /not '\/'/],
    ['amqp://u:p@rabbitmq.infra.svc/team-b/x', /more than one segment/],
    ['amqp://u:p@rabbitmq.infra.svc/team-b#x', /fragment/],
    ['amqp://u:p@rabbitmq.infra.svc/%E0%A4%A', /percent-encoded/],
    ['amqps://u:p@elsewhere/v?certfile=/etc/rabbitmq/cert.pem&keyfile=/etc/rabbitmq/key.pem', /'certfile'/],
    ['amqps://u:p@elsewhere/v?auth_mechanism=external', /'auth_mechanism'/],
  ])('refuses %s', (uri, why) => {
    expect(no(uri)).toMatch(why);
  });

  it.each([
    'amqp://u:p@rabbitmq.infra.svc/team-b',
    'amqp://u:p@rabbitmq.infra.svc:5672/team-b?heartbeat=10',
    'amqps://u:p@remote.example.com/team-a',
    'amqp://u@10.1.2.3/anything',
  ])('admits %s', (uri) => {
    expect(no(uri)).toBeUndefined();
  });

  it('leaves the broker namespace free to use direct URIs', () => {
    expect(refusal(b, 'infra', { vhost: '/', uris: ['amqp:///team-a'] }, facts)).toBeUndefined();
  });

  it('reads the vhost as the AMQP client does: the path percent-decoded, "/" when absent', () => {
    expect(uriReach('amqp://h').vhost).toBe('/');
    expect(uriReach('amqp://h/').vhost).toBe('');
    expect(uriReach('amqp://h/%2f').vhost).toBe('/');
    expect(uriReach('amqp://u%40x:p@h/a%20b').user).toBe('u@x');
    expect(uriReach('amqp://u:p@[::1]:5672/v').host).toBe('::1');
  });

  it('property: an IPv4 loopback address is recognised in every form inet_aton reads', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffff }),
        fc.constantFrom(1, 2, 3, 4),
        fc.constantFrom(10, 16, 8),
        (low, parts, radix) => {
          const value = 0x7f000000 + low;
          const bytes = [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255];
          const groups =
            parts === 1
              ? [value]
              : parts === 2
                ? [bytes[0]!, value & 0xffffff]
                : parts === 3
                  ? [bytes[0]!, bytes[1]!, value & 0xffff]
                  : bytes;
          const fmt = (n: number) =>
            radix === 16 ? `0x${n.toString(16)}` : radix === 8 ? `0${n.toString(8)}` : String(n);
          expect(isLoopback(groups.map(fmt).join('.'))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
    expect(isLoopback('128.0.0.1')).toBe(false);
    expect(isLoopback('10.0.0.1')).toBe(false);
  });
});
