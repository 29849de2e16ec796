import { describe, expect, it } from 'vitest';
import type { BrokerResource } from '../../src/kinds/brokers.ts';
import { matches, refusal } from '../../src/kinds/tenancy.ts';

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
    expect(refusal(twoTeams, 'infra', { user: { name: 'admin', tags: [] } }, 'admin')).toBeUndefined();
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
    for (const tag of ['administrator', 'policymaker', 'impersonator']) {
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
    expect(refusal(broker(), 'team-a', { user: { name: 'admin', tags: [] } }, 'admin')).toMatch(
      /user 'admin' is the broker's own administrator/,
    );
  });
});
