import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { warren, type CliRun } from '../support/cli.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { freePort } from '../support/ports.ts';

// `warren export` and `warren diff` as a user runs them, failing against a closed port and the
// real broker: the password given, in a flag, the environment or the URL, is never printed.
let ctx: TestContext;
let work: string;

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  work = mkdtempSync(join(ctx.env.dir, `cli-credentials-${ctx.namespace}-`));
});
afterAll(async () => {
  await ctx?.cleanup();
});

const WRONG = 'wr0ng-Pa55word';

function expectNoSecret(r: CliRun, secret: string, user = ctx.env.adminUser) {
  const all = r.stdout + r.stderr;
  expect(all).not.toContain(secret);
  expect(all).not.toContain(encodeURIComponent(secret));
  expect(all).not.toContain(Buffer.from(`${user}:${secret}`).toString('base64'));
}

const withPassword = (url: string, user: string, password: string) => {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.href;
};

describe('warren never prints the broker password', () => {
  it('against a closed port', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const dir = join(work, 'closed');
    for (const r of [
      await warren(['export', '--url', closed, '--username', 'admin', '--password', WRONG, '-d', dir]),
      await warren(['export', '-d', dir], {
        RABBITMQ_MANAGEMENT_URL: closed,
        RABBITMQ_ADMIN_USER: 'admin',
        RABBITMQ_ADMIN_PASSWORD: WRONG,
      }),
      await warren(['export', '--url', withPassword(closed, 'admin', WRONG), '-d', dir], {
        RABBITMQ_ADMIN_USER: 'admin',
        RABBITMQ_ADMIN_PASSWORD: 'other',
      }),
    ]) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^warren export: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expectNoSecret(r, WRONG, 'admin');
    }
  });

  it('against the real broker with a wrong password', async () => {
    const url = ctx.env.managementUrl;
    const user = ctx.env.adminUser;
    const dir = join(work, 'wrong');
    const flags = await warren(['export', '--url', url, '--username', user, '--password', WRONG, '-d', dir]);
    const manifest = join(work, 'queue.yaml');
    writeFileSync(
      manifest,
      'apiVersion: warren.dev/v1alpha1\nkind: RabbitQueue\nmetadata: {name: q}\nspec: {brokerRef: {name: local}}\n',
    );
    const env = await warren(['diff', manifest], {
      RABBITMQ_MANAGEMENT_URL: url,
      RABBITMQ_ADMIN_USER: user,
      RABBITMQ_ADMIN_PASSWORD: WRONG,
    });
    for (const r of [flags, env]) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/401/);
      expectNoSecret(r, WRONG);
    }
  });

  it('with the password in the URL, wrong or right', async () => {
    for (const password of [WRONG, ctx.env.adminPassword]) {
      const r = await warren(
        ['export', '--url', withPassword(ctx.env.managementUrl, ctx.env.adminUser, password)],
        {
          RABBITMQ_ADMIN_USER: ctx.env.adminUser,
          RABBITMQ_ADMIN_PASSWORD: password,
        },
      );
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/must not contain credentials/);
      expect(r.stderr).toContain(`${ctx.env.adminUser}:***@`);
      expectNoSecret(r, password);
    }
  });
});
