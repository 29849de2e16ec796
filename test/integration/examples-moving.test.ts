import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { drain, publish } from '../support/amqp.ts';
import type { TestContext } from '../support/context.ts';
import { REPO } from '../support/environment.ts';
import { useOperator } from '../support/suite.ts';
import { eventually } from '../support/wait.ts';

// examples/moving/, applied unchanged with kubectl as a user would, proven by its messages.
let ctx: TestContext;
useOperator(import.meta.url, (c) => (ctx = c), {
  cleanup: async (c) => {
    for (const v of ['warehouse', 'warehouse-legacy']) await c.broker.del(`/vhosts/${v}`);
  },
});

const kubectl = async (...args: string[]) =>
  (
    await promisify(execFile)(
      ctx.env.kubectl,
      ['--kubeconfig', ctx.env.kubeconfigPath, '-n', ctx.namespace, ...args],
      { cwd: REPO, encoding: 'utf8', timeout: 90_000 },
    )
  ).stdout;

async function receive(vhost: string, queue: string, n: number): Promise<string[]> {
  const got: string[] = [];
  await eventually(
    async () => {
      got.push(...(await drain(ctx.env, vhost, queue)));
      return got.length;
    },
    (len) => len >= n,
    { timeoutMs: 30_000, what: `${n} messages in ${queue}` },
  );
  return got;
}

describe('examples/moving/', () => {
  it('applies, turns Ready, shovels the legacy queue and federates the legacy exchange', async () => {
    for (const f of ['01-vhosts', '02-uris', '03-shovel', '04-federation'])
      await kubectl('apply', '-f', `examples/moving/${f}.yaml`);
    await kubectl('wait', '--for=condition=Ready', 'rabbit', '--all', '--timeout=90s');
    await kubectl('wait', '--for=jsonpath={.status.runningLinks}=1', 'rfed/legacy', '--timeout=60s');

    await publish(ctx.env, 'warehouse-legacy', '', 'pending', ['order 1']);
    expect(await receive('warehouse', 'pending', 1)).toEqual(['order 1']);
    await publish(ctx.env, 'warehouse-legacy', 'stock', 'sku.42', ['42 left']);
    expect(await receive('warehouse', 'stock-updates', 1)).toEqual(['42 left']);

    const table = await kubectl('get', 'rabbit');
    for (const kind of ['rabbitshovel', 'rabbitfederation', 'rabbitfederationupstreamset'])
      expect(table).toContain(`${kind}.warren.dev/`);
    expect(await kubectl('get', 'rshovel', 'legacy-pending', '-o', 'jsonpath={.status.state}')).toBe(
      'running',
    );
  });

  it('applies the super stream: Ready from RabbitMQ 3.11, Rejected before, saying why', async () => {
    await kubectl('apply', '-f', 'examples/moving/05-super-stream.yaml');
    if (ctx.env.rabbitmqVersion.startsWith('3.10.')) {
      await kubectl(
        'wait',
        '--for=jsonpath={.status.conditions[0].reason}=Rejected',
        'rsuperstream/invoices',
        '--timeout=60s',
      );
      expect(
        await kubectl('get', 'rsuperstream', 'invoices', '-o', 'jsonpath={.status.conditions[0].message}'),
      ).toMatch(/need RabbitMQ 3\.11/);
      return;
    }
    await kubectl('wait', '--for=condition=Ready', 'rsuperstream/invoices', '--timeout=60s');
    expect(await kubectl('get', 'rsuperstream', 'invoices', '-o', 'jsonpath={.status.partitions}')).toBe(
      '["invoices-amer","invoices-emea","invoices-apac"]',
    );
  });
});
