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
  cleanup: async (c) => void (await c.broker.del('/vhosts/shop')),
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
