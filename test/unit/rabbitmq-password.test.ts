import { describe, expect, it } from 'vitest';
import {
  HASHING_ALGORITHMS,
  hashPassword,
  isHashingAlgorithm,
  passwordMatches,
} from '../../src/rabbitmq/password.ts';

const DOCS_SALT = Buffer.from('908DC60A', 'hex');
const DOCS_HASH = 'kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR';

describe('hashPassword', () => {
  it('reproduces the example from the RabbitMQ docs', () => {
    expect(hashPassword('test12', 'rabbit_password_hashing_sha256', DOCS_SALT)).toBe(DOCS_HASH);
  });

  it('defaults to SHA-256 with a random 4-byte salt', () => {
    const a = hashPassword('secret');
    const b = hashPassword('secret');
    expect(a).not.toBe(b);
    expect(Buffer.from(a, 'base64')).toHaveLength(4 + 32);
  });

  it('sizes the digest by algorithm', () => {
    const len = (alg: (typeof HASHING_ALGORITHMS)[number]) =>
      Buffer.from(hashPassword('x', alg), 'base64').length;
    expect(len('rabbit_password_hashing_sha256')).toBe(36);
    expect(len('rabbit_password_hashing_sha512')).toBe(68);
    expect(len('rabbit_password_hashing_md5')).toBe(20);
  });

  it('hashes UTF-8', () => {
    const salt = Buffer.from('00000000', 'hex');
    expect(hashPassword('été', 'rabbit_password_hashing_sha256', salt)).not.toBe(
      hashPassword('ete', 'rabbit_password_hashing_sha256', salt),
    );
  });

  it('refuses an unknown algorithm and a wrong salt size', () => {
    expect(() => hashPassword('x', 'nope' as any)).toThrow(RangeError);
    expect(() => hashPassword('x', 'rabbit_password_hashing_sha256', Buffer.alloc(3))).toThrow(RangeError);
  });
});

describe('passwordMatches', () => {
  it('checks against the stored salt', () => {
    expect(passwordMatches(DOCS_HASH, 'rabbit_password_hashing_sha256', 'test12')).toBe(true);
    expect(passwordMatches(DOCS_HASH, 'rabbit_password_hashing_sha256', 'test13')).toBe(false);
    expect(passwordMatches(DOCS_HASH, 'rabbit_password_hashing_sha512', 'test12')).toBe(false);
  });

  it('round-trips every algorithm', () => {
    for (const alg of HASHING_ALGORITHMS) {
      expect(passwordMatches(hashPassword('p@ss wörd', alg), alg, 'p@ss wörd')).toBe(true);
    }
  });

  it('is false for no password, an unknown algorithm or garbage', () => {
    expect(passwordMatches('', 'rabbit_password_hashing_sha256', '')).toBe(false);
    expect(passwordMatches(DOCS_HASH, 'rabbit_password_hashing_sha1', 'test12')).toBe(false);
    expect(passwordMatches('AAAA', 'rabbit_password_hashing_sha256', 'x')).toBe(false);
  });
});

describe('isHashingAlgorithm', () => {
  it('knows the three broker modules and nothing else', () => {
    expect(HASHING_ALGORITHMS.every(isHashingAlgorithm)).toBe(true);
    expect(isHashingAlgorithm('rabbit_password_hashing_sha1')).toBe(false);
    expect(isHashingAlgorithm(undefined)).toBe(false);
  });
});
