import { describe, expect, it } from 'vitest';
import type { BrokerResource } from '../../src/kinds/brokers.ts';
import { refKeys, resolveConnection, type ConnectionSources } from '../../src/kinds/connection.ts';
import { Blocked, depKeys } from '../../src/kinds/types.ts';
import type { RefCache } from '../../src/runtime/secrets.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const cache = <T>(objects: Record<string, T>): RefCache<T> => ({
  get: async (ns, name) => objects[`${ns}/${name}`],
  peek: (ns, name) => objects[`${ns}/${name}`],
  forget: () => undefined,
  start: async () => undefined,
  stop: () => undefined,
  isSynced: true,
  size: 0,
});
const secret = (data: Record<string, string>, rv = '1') => ({
  metadata: { resourceVersion: rv },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});
const broker = (spec: Record<string, unknown>): BrokerResource =>
  ({
    apiVersion: 'warren.dev/v1alpha1',
    kind: 'RabbitBroker',
    metadata: { name: 'b', namespace: 'apps', uid: 'u' },
    spec,
  }) as BrokerResource;

const tlsCluster = {
  metadata: { resourceVersion: '7' },
  spec: { tls: { secretName: 'rabbit-tls', caSecretName: 'rabbit-ca' } },
  status: {
    defaultUser: {
      secretReference: { name: 'rabbit-default-user', keys: { username: 'username', password: 'password' } },
      serviceReference: { name: 'rabbit', namespace: 'apps' },
    },
  },
};

function sources(over: Partial<ConnectionSources> = {}): ConnectionSources {
  return {
    secrets: cache({
      'apps/rabbit-default-user': secret({ username: 'default', password: 'pw' }),
      'apps/rabbit-ca': secret({ 'ca.crt': 'CLUSTER CA' }),
      'apps/admin': secret({ username: 'admin', password: 'pw2' }),
    }),
    configMaps: cache({}),
    clusters: cache({ 'apps/rabbit': tlsCluster }),
    services: cache({
      'apps/rabbit': {
        metadata: { resourceVersion: '3' },
        spec: {
          ports: [
            { name: 'management', port: 15672 },
            { name: 'management-tls', port: 15671 },
          ],
        },
      },
    }),
    serviceHost: (s, ns) => `${s}.${ns}.svc`,
    ...over,
  };
}

describe('resolveConnection', () => {
  it('reaches a TLS RabbitmqCluster at <service>.<namespace>.svc on management-tls, trusting its CA besides the system ones', async () => {
    const deps = new Set<string>();
    const c = await resolveConnection(broker({ rabbitmqClusterRef: { name: 'rabbit' } }), sources(), deps);
    expect(c.endpoint).toBe('https://rabbit.apps.svc:15671');
    expect(c).toMatchObject({ username: 'default', password: 'pw', insecure: false });
    expect(c.https?.rejectUnauthorized).toBe(true);
    expect(c.https?.ca?.at(-1)).toBe('CLUSTER CA');
    expect(c.https!.ca!.length).toBeGreaterThan(1);
    expect([...deps].sort()).toEqual(
      [
        refKeys.cluster('apps', 'rabbit'),
        refKeys.service('apps', 'rabbit'),
        depKeys.secret('apps', 'rabbit-default-user'),
        depKeys.secret('apps', 'rabbit-ca'),
      ].sort(),
    );
  });

  it('lets credentialsSecretRef and tls.ca override what the cluster gives', async () => {
    const c = await resolveConnection(
      broker({
        rabbitmqClusterRef: { name: 'rabbit' },
        credentialsSecretRef: { name: 'admin' },
        tls: { ca: { configMapKeyRef: { name: 'roots', key: 'ca.crt' } }, serverName: 'rabbit.example' },
      }),
      sources({
        configMaps: cache({
          'apps/roots': { metadata: { resourceVersion: '1' }, data: { 'ca.crt': 'MY CA' } },
        }),
      }),
      new Set(),
    );
    expect(c).toMatchObject({ username: 'admin', password: 'pw2' });
    expect(c.https).toMatchObject({ servername: 'rabbit.example' });
    expect(c.https?.ca?.at(-1)).toBe('MY CA');
  });

  it('changes its fingerprint when anything it was built from changes', async () => {
    const b = broker({ rabbitmqClusterRef: { name: 'rabbit' } });
    const one = await resolveConnection(b, sources(), new Set());
    const rotated = sources({
      secrets: cache({
        'apps/rabbit-default-user': secret({ username: 'default', password: 'new' }, '2'),
        'apps/rabbit-ca': secret({ 'ca.crt': 'CLUSTER CA' }),
      }),
    });
    expect((await resolveConnection(b, rotated, new Set())).fingerprint).not.toBe(one.fingerprint);
    expect((await resolveConnection(b, sources(), new Set())).fingerprint).toBe(one.fingerprint);
  });

  it.each([
    ['a cluster without a status', { metadata: {} }, 'BrokerNotReady', /serviceReference/],
    [
      'a Service without the port',
      {
        ...tlsCluster,
        status: { defaultUser: { ...tlsCluster.status.defaultUser, serviceReference: { name: 'bare' } } },
      },
      'BrokerNotReady',
      /Service apps\/bare .*not found/,
    ],
  ])('waits on %s', async (_w, cluster, reason, message) => {
    const err = await resolveConnection(
      broker({ rabbitmqClusterRef: { name: 'rabbit' } }),
      sources({ clusters: cache({ 'apps/rabbit': cluster }) }),
      new Set(),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(Blocked);
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
  });

  it('uses no TLS settings for an http endpoint, and skips verification only when told', async () => {
    const plain = await resolveConnection(
      broker({ endpoint: 'http://r:15672', credentialsSecretRef: { name: 'admin' } }),
      sources(),
      new Set(),
    );
    expect(plain.https).toBeUndefined();
    const insecure = await resolveConnection(
      broker({
        endpoint: 'https://r:15671',
        credentialsSecretRef: { name: 'admin' },
        tls: { insecureSkipVerify: true },
      }),
      sources(),
      new Set(),
    );
    expect(insecure).toMatchObject({ insecure: true, https: { rejectUnauthorized: false } });
  });

  it.each([
    ['secretReference', { secretReference: { name: 'token', namespace: 'kube-system' } }],
    ['serviceReference', { serviceReference: { name: 'evil', namespace: 'attacker' } }],
  ])(
    'refuses a cluster status whose %s names another namespace (attack: read any Secret)',
    async (field, user) => {
      const secrets = sources().secrets;
      const read: string[] = [];
      const watching: RefCache<any> = {
        ...secrets,
        get: async (ns, name) => (read.push(`${ns}/${name}`), secrets.get(ns, name)),
      };
      const cluster = {
        ...tlsCluster,
        status: { defaultUser: { ...tlsCluster.status.defaultUser, ...user } },
      };
      const err = await resolveConnection(
        broker({ rabbitmqClusterRef: { name: 'rabbit' } }),
        sources({ secrets: watching, clusters: cache({ 'apps/rabbit': cluster }) }),
        new Set(),
      ).catch((e) => e);
      expect(err).toBeInstanceOf(Blocked);
      expect(err.reason).toBe('NotAllowed');
      expect(err.message).toContain(`status.defaultUser.${field}.namespace is`);
      expect(read.filter((k) => !k.startsWith('apps/'))).toEqual([]);
    },
  );
});
