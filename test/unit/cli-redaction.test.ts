import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.ts';
import { secretsOf, shownUrl } from '../../src/cli/redaction.ts';

const PASSWORD = 'Pa55-w0rd';
const ENV = {
  url: 'RABBITMQ_MANAGEMENT_URL',
  username: 'RABBITMQ_ADMIN_USER',
  password: 'RABBITMQ_ADMIN_PASSWORD',
};

async function warren(args: string[], env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  const code = await run(args, env, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

/** Neither the password, nor its URL-encoded form, nor a Basic header made of it. */
function expectNoPassword(text: string, password = PASSWORD) {
  expect(text).not.toContain(password);
  expect(text).not.toContain(encodeURIComponent(password));
  expect(text).not.toContain(Buffer.from(`admin:${password}`).toString('base64'));
}

const dir = ['-d', join(tmpdir(), 'warren-never')];

describe('warren export --url never prints the password', () => {
  // A password in the URL's user info, in forms that parse and forms that do not.
  const urls: Array<[string, string, RegExp]> = [
    ['a closed port', `http://admin:${PASSWORD}@127.0.0.1:1`, /must not contain credentials/],
    ['a bad port', `http://admin:${PASSWORD}@127.0.0.1:99999`, /Invalid URL/],
    ['a password with /', 'http://admin:Pa55/w0rd@127.0.0.1:1', /Invalid URL/],
    ['a password with # and @', 'http://admin:Pa5#5@w0rd@broker.invalid:15672', /credentials|Invalid URL/],
    ['a percent-encoded password', 'http://admin:Pa55%2Fw0rd@127.0.0.1:1', /credentials/],
    ['an unknown host', `http://admin:${PASSWORD}@broker.invalid:15672`, /credentials/],
  ];
  it.each(urls)('with %s', async (_what, url, message) => {
    for (const r of [
      await warren(['export', '--url', url, '--username', 'admin', '--password', 'x', ...dir]),
      await warren(['export', `--url=${url}`, '--username', 'admin', '--password', 'x', ...dir]),
      await warren(['diff', '--cluster'], {
        RABBITMQ_MANAGEMENT_URL: url,
        RABBITMQ_ADMIN_USER: 'admin',
        RABBITMQ_ADMIN_PASSWORD: 'x',
      }),
    ]) {
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.err).toMatch(/admin:\*\*\*@/);
      for (const p of [PASSWORD, 'Pa55/w0rd', 'Pa5#5@w0rd', 'Pa55%2Fw0rd', 'w0rd'])
        expectNoPassword(r.out + r.err, p);
    }
  });

  it('when the broker is unreachable or unknown, with the password in a flag or the environment', async () => {
    for (const url of ['http://127.0.0.1:1', 'http://broker.invalid:15672', 'ftp://127.0.0.1:1']) {
      const flags = await warren([
        'export',
        '--url',
        url,
        '--username',
        'admin',
        `--password=${PASSWORD}`,
        ...dir,
      ]);
      const env = await warren(['export', ...dir], {
        RABBITMQ_MANAGEMENT_URL: url,
        RABBITMQ_ADMIN_USER: 'admin',
        RABBITMQ_ADMIN_PASSWORD: PASSWORD,
      });
      for (const r of [flags, env]) {
        expect(r.code).toBe(2);
        expect(r.err).toMatch(/^warren export: GET \/api\/overview: unreachable/);
        expectNoPassword(r.out + r.err);
      }
    }
  });

  it('when a mistake on the command line echoes what was given', async () => {
    // The password given where the URL goes, or as a stray argument.
    for (const args of [
      ['export', '--url', `not a url ${PASSWORD}`, '--username', 'admin', '--password', PASSWORD],
      ['export', PASSWORD, '--password', PASSWORD],
      ['export', '--password', `-${PASSWORD}`, '--url', 'http://127.0.0.1:1'],
    ]) {
      const r = await warren(args);
      expect(r.code, args.join(' ')).toBe(2);
      expectNoPassword(r.out + r.err);
      expectNoPassword(r.out + r.err, `-${PASSWORD}`);
    }
  });
});

describe('shownUrl', () => {
  it('replaces the password of the user info, as typed, and leaves other URLs alone', () => {
    expect(shownUrl('http://admin:s3cret@rabbit:15672/')).toBe('http://admin:***@rabbit:15672/');
    expect(shownUrl('https://admin:a/b@c#d@rabbit')).toBe('https://admin:***@rabbit');
    expect(shownUrl('admin:s3cret@rabbit:15672')).toBe('admin:***@rabbit:15672');
    expect(shownUrl('http://admin@rabbit:15672')).toBe('http://admin@rabbit:15672');
    expect(shownUrl('http://rabbit:15672/')).toBe('http://rabbit:15672/');
    expect(shownUrl('http://[::1')).toBe('http://[::1');
  });
});

describe('secretsOf', () => {
  it('collects the passwords of flags, environment and URLs, with their Basic header', () => {
    const s = secretsOf(
      ['--url', 'http://u:p%40ss@h', '--password', 'one', '--username', 'admin', '--password=two'],
      { RABBITMQ_ADMIN_PASSWORD: 'three' },
      ENV,
    );
    for (const x of ['one', 'two', 'three', 'p%40ss', 'p@ss', Buffer.from('admin:one').toString('base64')])
      expect(s).toContain(x);
  });
});
