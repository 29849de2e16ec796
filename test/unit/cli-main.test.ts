import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.ts';
import { readTree } from '../support/cli.ts';

const REPO = join(import.meta.dirname, '..', '..');
const FIXTURE = join(REPO, 'test', 'fixtures', 'definitions.json');

async function warren(args: string[], env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  const code = await run(args, env, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('the warren command line', () => {
  it('exports a definitions file without any broker, and says what it wrote and left out', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'warren-main-')), 'out');
    const r = await warren(['export', '--definitions', FIXTURE, '--dir', dir, '--broker-ref', 'prod']);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`exported from file ${FIXTURE} to ${dir}/ (apply with: kubectl apply -k ${dir})`);
    expect(r.err).toMatch(/RabbitQueue +7 +queues\.yaml/);
    expect(r.err).toMatch(/RabbitFederationUpstreamSet +1 +federationupstreamsets\.yaml/);
    expect(r.err).toContain(
      `5 credentials Secrets (3 user password hashes, 1 shovel URIs, 1 federation upstream URIs) in ${dir}-credentials/`,
    );
    expect(readdirSync(dir)).toContain('kustomization.yaml');
    expect(readdirSync(`${dir}-credentials`)).toHaveLength(6);
    // The summary names the Secrets, never what they hold.
    expect(r.err).not.toMatch(/fed-s3cret|amqps?:|kI3GCq/);
  });

  it('with --no-credentials, names the Secrets to create instead of writing them', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'warren-main-')), 'out');
    const r = await warren(['export', '-f', FIXTURE, '-d', dir, '--no-credentials']);
    expect(r.code).toBe(0);
    expect(r.err).toContain(
      '--no-credentials: create these Secrets before applying: billing-service-credentials, orders-app-credentials, reporting-credentials (key passwordHash, or password); dead-letters-to-analytics-shovel-uris (keys srcUri and destUri); central-upstream-uri (key uri)',
    );
    expect(r.err).not.toMatch(/fed-s3cret|amqps?:/);
    expect(readdirSync(join(dir, '..'))).toEqual(['out']);
  });

  it('refuses mistakes with exit status 2 and a message, never a stack trace', async () => {
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['frobnicate'], {}, /unknown command 'frobnicate'/],
      [['export', '--bogus'], {}, /Unknown option '--bogus'/],
      [
        ['export', '--deletion-policy', 'Keep', '-f', FIXTURE],
        {},
        /--deletion-policy must be Retain or Delete/,
      ],
      [['export'], {}, /no broker: give --url or set RABBITMQ_MANAGEMENT_URL/],
      [['export', '--url', 'http://x:15672'], {}, /no credentials/],
      [
        ['export', '--url', 'http://u:p@x:15672', '--username', 'u', '--password', 'p'],
        {},
        /must not contain credentials/,
      ],
      [['export', '-f', FIXTURE, '--url', 'http://x'], {}, /either --definitions or --url/],
      [['export', '-f', '/nonexistent.json'], {}, /ENOENT/],
      [['diff'], {}, /give manifest files or directories, or --cluster/],
      [['diff', 'x', '--cluster'], {}, /give manifest files or directories, or --cluster/],
      [['diff', 'x', '-o', 'yaml'], {}, /--output must be table or json/],
    ];
    for (const [args, env, message] of cases) {
      const r = await warren(args, env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(message);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });

  it('cannot reach a broker: exit status 2, the password nowhere in the message', async () => {
    const r = await warren(['export', '-d', join(tmpdir(), 'never')], {
      RABBITMQ_MANAGEMENT_URL: 'http://127.0.0.1:1',
      RABBITMQ_ADMIN_USER: 'admin',
      RABBITMQ_ADMIN_PASSWORD: 's3cret-pw',
    });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^warren export: .*127\.0\.0\.1:1/);
    expect(r.err).not.toContain('s3cret-pw');
  });

  it('runs as `npx warren` from the package (bin in package.json)', async () => {
    const { stdout } = await promisify(execFile)('npx', ['--no-install', 'warren', '--version'], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(stdout.trim()).toMatch(/^warren \d+\.\d+\.\d+$/);
    // npx and a node start-up: seconds on a loaded machine, beyond the unit tests' 5 s default.
  }, 60_000);
});

describe('examples/migrate/', () => {
  it('holds what warren export makes of its definitions file, with the README walk-through flags', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'warren-example-')), 'manifests');
    const example = join(REPO, 'examples', 'migrate');
    const r = await warren([
      'export',
      ...['-f', join(example, 'definitions.json'), '-d', dir, '--no-credentials'],
      ...['--exclude', 'queue:*.pidbox', '--exclude', 'exchange:celery.pidbox'],
    ]);
    expect(r.code, r.err).toBe(0);
    expect(readTree(dir)).toEqual(readTree(join(example, 'manifests')));
  });
});
