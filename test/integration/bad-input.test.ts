import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { TestContext } from '../support/context.ts';
import { useOperator } from '../support/suite.ts';
import { type RunningOperator } from '../support/operator.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

let ctx: TestContext;
let op: RunningOperator;
useOperator(import.meta.url, (c, o) => ((ctx = c), (op = o)));

const b = { name: 'local' };
const perm = { configure: '.*', write: '.*', read: '.*' };

// Each is refused by the API server's schema or CEL rules: 422 with the offending field.
const rejectedByApiServer: Array<[string, string, Record<string, unknown>, RegExp]> = [
  ['bad enum', 'rabbitqueues', { brokerRef: b, type: 'lazy' }, /spec\.type/],
  ['missing brokerRef', 'rabbitqueues', {}, /spec\.brokerRef/],
  ['queue named .', 'rabbitqueues', { brokerRef: b, name: '.' }, /cannot address/],
  ['queue named ..', 'rabbitqueues', { brokerRef: b, name: '..' }, /cannot address/],
  ['vhost named ..', 'rabbitvhosts', { brokerRef: b, name: '..' }, /cannot address/],
  ['queue in vhost .', 'rabbitqueues', { brokerRef: b, vhost: '.' }, /cannot address/],
  ['over-long queue name', 'rabbitqueues', { brokerRef: b, name: 'q'.repeat(256) }, /spec\.name/],
  ['reserved amq. queue name', 'rabbitqueues', { brokerRef: b, name: 'amq.mine' }, /reserved/],
  [
    'non-durable quorum queue',
    'rabbitqueues',
    { brokerRef: b, type: 'quorum', durable: false },
    /must be durable/,
  ],
  ['negative vhost limit', 'rabbitvhosts', { brokerRef: b, limits: { maxQueues: -1 } }, /maxQueues/],
  ['negative user limit', 'rabbitusers', { brokerRef: b, limits: { maxChannels: -5 } }, /maxChannels/],
  [
    'passwordless with a Secret',
    'rabbitusers',
    { brokerRef: b, passwordless: true, credentialsSecretRef: { name: 's' } },
    /passwordless/,
  ],
  [
    'permission with user and userRef',
    'rabbitpermissions',
    { brokerRef: b, user: 'a', userRef: { name: 'a' }, ...perm },
    /exactly one/,
  ],
  ['permission without user', 'rabbitpermissions', { brokerRef: b, ...perm }, /exactly one/],
  [
    'permission without read',
    'rabbitpermissions',
    { brokerRef: b, user: 'a', configure: '', write: '' },
    /spec\.read/,
  ],
  [
    'broker with a bad endpoint',
    'rabbitbrokers',
    { endpoint: 'ftp://x', credentialsSecretRef: { name: 's' } },
    /spec\.endpoint/,
  ],
  [
    'broker with a bad interval',
    'rabbitbrokers',
    { endpoint: 'http://x', credentialsSecretRef: { name: 's' }, surveyInterval: 'soon' },
    /surveyInterval/,
  ],
  [
    'broker surveying back to back',
    'rabbitbrokers',
    { endpoint: 'http://x', credentialsSecretRef: { name: 's' }, surveyInterval: '0s' },
    /surveyInterval must be between 5s and 24h/,
  ],
  [
    'broker surveying once a month (a timer Node cannot hold)',
    'rabbitbrokers',
    { endpoint: 'http://x', credentialsSecretRef: { name: 's' }, surveyInterval: '600h' },
    /surveyInterval must be between 5s and 24h/,
  ],
  [
    'broker with TLS settings on an http endpoint',
    'rabbitbrokers',
    { endpoint: 'http://x', credentialsSecretRef: { name: 's' }, tls: { insecureSkipVerify: true } },
    /tls needs an https:\/\/ endpoint/,
  ],
];

describe('malformed manifests', () => {
  it.each(rejectedByApiServer)('%s is rejected by the API server', async (_what, plural, spec, field) => {
    const err = await ctx
      .create(plural, `bad-${Math.random().toString(36).slice(2, 8)}`, spec)
      .catch((e) => e);
    expect(err).toBeInstanceOf(k8s.ApiException);
    expect(err.code).toBe(422);
    expect(String(err.body)).toMatch(field);
  });

  // What the schema cannot know becomes Ready=False with a reason and the broker's message.
  const reportedInStatus: Array<[string, string, Record<string, unknown>, string, RegExp]> = [
    ['queue name over 255 bytes', 'rabbitqueues', { brokerRef: b, name: 'é'.repeat(200) }, 'Rejected', /255/],
    [
      'argument the broker refuses',
      'rabbitqueues',
      { brokerRef: b, arguments: { 'x-max-length': 'many' } },
      'Rejected',
      /x-max-length/,
    ],
    [
      'queue in a missing vhost',
      'rabbitqueues',
      { brokerRef: b, vhost: 'no-such-vhost' },
      'WaitingForDependency',
      /vhost/,
    ],
    ['unknown broker', 'rabbitqueues', { brokerRef: { name: 'nope' } }, 'BrokerNotFound', /nope/],
    [
      'broker in another namespace',
      'rabbitqueues',
      { brokerRef: { name: 'local', namespace: 'elsewhere' } },
      'BrokerNotFound',
      /elsewhere/,
    ],
  ];
  it.each(reportedInStatus)('%s is reported as Ready=False', async (_what, plural, spec, reason, message) => {
    const name = `st-${Math.random().toString(36).slice(2, 8)}`;
    await ctx.create(plural, name, spec);
    const o = await eventually(
      () => ctx.get(plural, name),
      (x) => readyOf(x)?.status === 'False',
    );
    expect(readyOf(o).reason).toBe(reason);
    expect(readyOf(o).message).toMatch(message);
    // Deleting it never hangs.
    await ctx.remove(plural, name);
    await ctx.waitGone(plural, name);
  });

  it('leaves the operator running: a good resource still becomes Ready', async () => {
    await ctx.create('rabbitqueues', 'good', { brokerRef: b, vhost: ctx.vhost });
    await eventually(() => ctx.get('rabbitqueues', 'good'), isReadyNow, { what: 'good queue Ready' });
  });

  it('does not retry a rejected resource in a hot loop', async () => {
    // The over-long name's retries back off exponentially: count broker requests over a few seconds.
    const name = 'backoff';
    await ctx.create('rabbitqueues', name, { brokerRef: b, name: 'ü'.repeat(200) });
    await eventually(
      () => ctx.get('rabbitqueues', name),
      (x) => readyOf(x)?.reason === 'Rejected',
    );
    const before = await op.reconciles('rabbitqueue');
    await new Promise((r) => setTimeout(r, 4000));
    const after = await op.reconciles('rabbitqueue');
    // Backoff 0.5 s, 1 s, 2 s, ... allows a handful of attempts in 4 s; a hot loop would make hundreds.
    expect(after - before).toBeGreaterThan(0);
    expect(after - before).toBeLessThanOrEqual(6);
  });
});
