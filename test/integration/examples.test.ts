import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { drain, publish } from '../support/amqp.ts';
import type { TestContext } from '../support/context.ts';
import { REPO } from '../support/environment.ts';
import { useOperator } from '../support/suite.ts';

// examples/routing/, applied unchanged with kubectl as a user would, proven by its messages.
let ctx: TestContext;
useOperator(import.meta.url, (c) => (ctx = c), {
  cleanup: async (c) => {
    await c.broker.del('/vhosts/shop');
    await c.broker.del('/vhosts/telemetry');
    await c.broker.del('/users/sensor-42');
  },
});

const kubectl = async (...args: string[]) =>
  (
    await promisify(execFile)(
      ctx.env.kubectl,
      ['--kubeconfig', ctx.env.kubeconfigPath, '-n', ctx.namespace, ...args],
      {
        cwd: REPO,
        encoding: 'utf8',
        timeout: 90_000,
      },
    )
  ).stdout;

describe('examples/routing/', () => {
  it('applies, turns Ready, and routes by region with everything audited', async () => {
    await kubectl('apply', '-f', 'examples/routing/');
    await kubectl('wait', '--for=condition=Ready', 'rabbit', '--all', '--timeout=90s');
    await publish(ctx.env, 'shop', 'events', 'order.eu', ['eu order']);
    await publish(ctx.env, 'shop', 'events', 'order.us', ['us order']);
    await publish(ctx.env, 'shop', 'events', 'refund.eu', ['eu refund']);
    expect(await drain(ctx.env, 'shop', 'orders-eu')).toEqual(['eu order']);
    expect(await drain(ctx.env, 'shop', 'orders-us')).toEqual(['us order']);
    expect(await drain(ctx.env, 'shop', 'audit')).toEqual(['eu order', 'us order', 'eu refund']);
    const table = await kubectl('get', 'rabbit');
    for (const kind of ['rabbitexchange', 'rabbitbinding', 'rabbitpolicy', 'rabbitoperatorpolicy'])
      expect(table).toContain(`${kind}.warren.dev/`);
  });
});

describe('examples/topic-permission.yaml', () => {
  it('applies unchanged, turns Ready, and sets the topic permission in the broker', async () => {
    await kubectl('apply', '-f', 'examples/topic-permission.yaml');
    await kubectl(
      'wait',
      '--for=condition=Ready',
      'rabbitvhost/telemetry',
      'rabbituser/sensor-42',
      'rabbitpermission/sensor-42-on-telemetry',
      'rabbittopicpermission/sensor-42-on-amq-topic',
      '--timeout=90s',
    );
    const topic = await ctx.broker.get('/topic-permissions/telemetry/sensor-42');
    expect(topic.body).toEqual([
      expect.objectContaining({ exchange: 'amq.topic', write: '^sensors\\.42\\.', read: '^sensors\\.' }),
    ]);
    const perm = await ctx.broker.get('/permissions/telemetry/sensor-42');
    expect(perm.body).toMatchObject({ write: '^amq\\.gen-.*|^amq\\.topic$' });
    expect(await kubectl('get', 'rtperm')).toMatch(
      /^sensor-42-on-amq-topic\s+sensor-42\s+telemetry\s+amq\.topic\s+True\s+Reconciled/m,
    );
  });
});

describe('examples/quickstart/', () => {
  it('is accepted by the API server as it stands (server-side dry run, namespace default)', async () => {
    // The quick start names namespace default itself, so no -n here.
    const { stdout } = await promisify(execFile)(
      ctx.env.kubectl,
      ['--kubeconfig', ctx.env.kubeconfigPath, 'apply', '--dry-run=server', '-f', 'examples/quickstart/'],
      { cwd: REPO, encoding: 'utf8', timeout: 90_000 },
    );
    for (const what of ['secret/rabbitmq-admin', 'deployment.apps/rabbitmq', 'service/rabbitmq'])
      expect(stdout).toContain(`${what} created (server dry run)`);
    expect(stdout).toContain('rabbitbroker.warren.dev/local created (server dry run)');
  });
});
