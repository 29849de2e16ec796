import { describe, expect, it, vi } from 'vitest';

// How often the survey's user check hashes a password: counted through the module it calls.
const hashed = vi.hoisted(() => ({ n: 0 }));
vi.mock('../../src/rabbitmq/index.ts', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../src/rabbitmq/index.ts')>();
  return {
    ...m,
    passwordMatches: (...args: Parameters<typeof m.passwordMatches>) => {
      hashed.n++;
      return m.passwordMatches(...args);
    },
  };
});

const { hashPassword } = await import('../../src/rabbitmq/password.ts');
const { userKind, usersTable } = await import('../../src/kinds/user.ts');

const secret = (password: string) => ({ data: { password: Buffer.from(password).toString('base64') } });
const user = () => ({
  metadata: { name: 'alice', namespace: 'ns', generation: 1 },
  spec: { brokerRef: { name: 'b' }, username: 'alice', credentialsSecretRef: { name: 'alice-pw' } },
  status: { username: 'alice' },
});
const row = (password: string, tags: string[] = []) => ({
  name: 'alice',
  password_hash: hashPassword(password),
  hashing_algorithm: 'rabbit_password_hashing_sha256',
  tags,
});

function setup() {
  const rows = new Map<unknown, unknown>();
  const secrets = new Map<string, unknown>();
  const snap = {
    caps: {} as never,
    row: (t: unknown, name: string) => (t === usersTable ? rows.get(name) : undefined), // no limits
  } as never;
  const ctx = {
    secrets: {
      get: async (_ns: string, name: string) => secrets.get(name),
      peek: (_ns: string, name: string) => secrets.get(name),
    },
    lookup: () => undefined,
  } as never;
  return { rows, secrets, check: (r: ReturnType<typeof user>) => userKind.inSync!(r as never, snap, ctx) };
}

describe('the survey’s check of a user', () => {
  it('answers at once from a cached Secret and hashes the password again only when something changed', () => {
    const { rows, secrets, check } = setup();
    const r = user();
    rows.set('alice', row('right'));
    secrets.set('alice-pw', secret('right'));
    hashed.n = 0;
    expect(check(r)).toBe(true); // a plain answer, not a promise
    expect(hashed.n).toBe(1);
    expect(check(r)).toBe(true);
    expect(hashed.n).toBe(1); // the same row, Secret and resource: the same answer

    secrets.set('alice-pw', secret('rotated')); // a new Secret object
    expect(check(r)).toBe(false);
    expect(hashed.n).toBe(2);
    rows.set('alice', row('rotated')); // the broker's row changed
    expect(check(r)).toBe(true);
    expect(hashed.n).toBe(3);
    rows.set('alice', row('rotated', ['administrator'])); // tags changed behind warren's back
    expect(check(r)).toBe(false);
  });

  it('reads the Secret when the cache does not hold it', async () => {
    const { rows, secrets, check } = setup();
    rows.set('alice', row('right'));
    const r = user();
    const answer = check(r);
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toBe(false); // no Secret: no credential to match
    secrets.set('alice-pw', secret('right'));
    expect(check(r)).toBe(true);
  });
});
