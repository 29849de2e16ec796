import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  findCluster,
  parseConfig,
  SERVICE_ACCOUNT_TOKEN,
  serviceHostFrom,
} from '../../src/config.ts';

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('has the documented defaults', () => {
    expect(parseConfig({})).toEqual({
      namespaces: undefined,
      serviceHost: '{service}.{namespace}.svc',
      concurrency: 16,
      resyncMs: 600_000,
      leaderElection: true,
      leaseNamespace: 'default',
      lease: { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
      identity: expect.stringMatching(new RegExp(`^${hostname()}_[0-9a-f]{8}$`)),
      healthPort: 8081,
      healthHost: '0.0.0.0',
      logLevel: 'info',
      logFormat: 'json',
    });
  });

  it('gives every process its own identity, even on one host or under one pod name', () => {
    expect(parseConfig({}).identity).not.toBe(parseConfig({}).identity);
    const a = parseConfig({ POD_NAME: 'warren-0' }).identity;
    expect(a).not.toBe(parseConfig({ POD_NAME: 'warren-0' }).identity);
    expect(parseConfig({ POD_NAME: 'x'.repeat(128) }).identity.length).toBeLessThanOrEqual(128);
  });

  it('reads every variable', () => {
    expect(
      parseConfig({
        WATCH_NAMESPACE: 'team-a',
        WARREN_CONCURRENCY: '16',
        WARREN_RESYNC: '1m30s',
        LEADER_ELECTION: 'false',
        LEADER_ELECTION_NAMESPACE: 'warren-system',
        POD_NAME: 'warren-0',
        WARREN_LEASE_DURATION: '3s',
        WARREN_RENEW_DEADLINE: '2s',
        WARREN_RETRY_PERIOD: '500ms',
        HEALTH_PORT: '9000',
        HEALTH_HOST: '127.0.0.1',
        LOG_LEVEL: 'debug',
        LOG_FORMAT: 'text',
        WARREN_SERVICE_HOST: '{service}.{namespace}.svc.cluster.local',
      }),
    ).toEqual({
      namespaces: ['team-a'],
      serviceHost: '{service}.{namespace}.svc.cluster.local',
      concurrency: 16,
      resyncMs: 90_000,
      leaderElection: false,
      leaseNamespace: 'warren-system',
      lease: { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 },
      identity: expect.stringMatching(/^warren-0_[0-9a-f]{8}$/),
      healthPort: 9000,
      healthHost: '127.0.0.1',
      logLevel: 'debug',
      logFormat: 'text',
    });
  });

  it('takes the lease namespace from POD_NAMESPACE when LEADER_ELECTION_NAMESPACE is unset, and treats empty as unset', () => {
    expect(parseConfig({ POD_NAMESPACE: 'ops', WATCH_NAMESPACE: '' })).toMatchObject({
      leaseNamespace: 'ops',
      namespaces: undefined,
    });
  });

  it.each([
    ['WARREN_CONCURRENCY', 'abc', /WARREN_CONCURRENCY=abc: expected a whole number from 1 to 1000/],
    ['WARREN_CONCURRENCY', '0', /WARREN_CONCURRENCY=0: expected a whole number/],
    ['WARREN_CONCURRENCY', '2.5', /WARREN_CONCURRENCY=2.5: expected a whole number/],
    ['WARREN_RESYNC', '10', /WARREN_RESYNC=10: expected a duration such as/],
    ['WARREN_RESYNC', '0s', /WARREN_RESYNC=0s: expected a duration of at least 1000 ms/],
    ['LEADER_ELECTION', 'yes', /LEADER_ELECTION=yes: expected 'true' or 'false'/],
    ['HEALTH_PORT', '70000', /HEALTH_PORT=70000: expected a whole number from 0 to 65535/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL=loud: expected one of fatal, error, warn, info, debug, trace, silent/],
    ['LOG_FORMAT', 'pretty', /LOG_FORMAT=pretty: expected one of json, text/],
    ['WATCH_NAMESPACE', 'Team_A', /WATCH_NAMESPACE=Team_A: expected namespace names/],
    ['LEADER_ELECTION_NAMESPACE', 'a b', /LEADER_ELECTION_NAMESPACE=a b: expected a namespace name/],
    ['WARREN_LEASE_DURATION', 'long', /WARREN_LEASE_DURATION=long: expected a duration/],
  ])('%s=%s is refused with a message naming it', (name, value, message) => {
    const p = problems({ [name]: value });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(message);
  });

  it('reads a comma-separated list of namespaces, once each', () => {
    expect(parseConfig({ WATCH_NAMESPACE: 'team-a, team-b,team-a' }).namespaces).toEqual([
      'team-a',
      'team-b',
    ]);
  });

  it('names the bad entries of a namespace list', () => {
    expect(problems({ WATCH_NAMESPACE: 'team-a,,Team_B' })).toEqual([
      "WATCH_NAMESPACE=team-a,,Team_B: expected namespace names separated by commas (lower-case letters, digits and -, at most 63 characters each); not: '', 'Team_B'",
    ]);
  });

  it('builds Service host names from WARREN_SERVICE_HOST', () => {
    const host = serviceHostFrom(
      parseConfig({ WARREN_SERVICE_HOST: '{service}.{namespace}.svc.example' }).serviceHost,
    );
    expect(host('rabbit', 'mq')).toBe('rabbit.mq.svc.example');
    expect(serviceHostFrom(parseConfig({}).serviceHost)('rabbit', 'mq')).toBe('rabbit.mq.svc');
  });

  it('reports every bad variable at once', () => {
    expect(
      problems({ WARREN_CONCURRENCY: 'x', LOG_LEVEL: 'y', HEALTH_PORT: 'z' }).map((p) => p.split('=')[0]),
    ).toEqual(['WARREN_CONCURRENCY', 'HEALTH_PORT', 'LOG_LEVEL']);
  });

  it('refuses lease timings under which two leaders could overlap', () => {
    expect(problems({ WARREN_RENEW_DEADLINE: '15s' })[0]).toMatch(
      /WARREN_RENEW_DEADLINE.*renew deadline must be shorter than the lease duration/,
    );
    expect(problems({ WARREN_RETRY_PERIOD: '9s' })[0]).toMatch(/retry period/);
  });

  it("accepts the Deployment's environment in deploy/", () => {
    const docs = parseAllDocuments(
      readFileSync(join(import.meta.dirname, '..', '..', 'deploy', 'deployment.yaml'), 'utf8'),
    );
    const deployment = docs.map((d) => d.toJS()).find((d) => d?.kind === 'Deployment');
    const env: NodeJS.ProcessEnv = {};
    for (const e of deployment.spec.template.spec.containers[0].env) {
      // Downward-API values are a pod's name and namespace at run time.
      env[e.name] =
        e.value?.replace('$(POD_NAMESPACE)', 'warren-system') ??
        (e.name === 'POD_NAME' ? 'warren-abc' : 'warren-system');
    }
    expect(() => parseConfig(env)).not.toThrow();
  });
});

describe('findCluster', () => {
  const files =
    (...present: string[]) =>
    (p: string) =>
      present.includes(p);

  it('uses KUBECONFIG when every file it names exists', () => {
    expect(findCluster({ KUBECONFIG: '/a:/b' }, files('/a', '/b'))).toEqual({ kubeconfig: ['/a', '/b'] });
    expect(() => findCluster({ KUBECONFIG: '/a:/b' }, files('/a'))).toThrow(
      /KUBECONFIG=\/a:\/b: no such file: \/b/,
    );
  });

  it('then ~/.kube/config, then the service account', () => {
    expect(findCluster({ HOME: '/h' }, files('/h/.kube/config'))).toEqual({
      kubeconfig: ['/h/.kube/config'],
    });
    expect(
      findCluster(
        { HOME: '/h', KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' },
        files(SERVICE_ACCOUNT_TOKEN),
      ),
    ).toEqual({ inCluster: true });
  });

  it('says where it looked when there is no cluster', () => {
    expect(() => findCluster({ HOME: '/h' }, files())).toThrow(
      'no Kubernetes cluster found: KUBECONFIG is not set; /h/.kube/config does not exist; not in a pod (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT not set, no /var/run/secrets/kubernetes.io/serviceaccount/token)',
    );
    expect(() =>
      findCluster(
        { HOME: '/h', KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' },
        files(),
      ),
    ).toThrow(/serviceaccount\/token does not exist/);
  });
});
