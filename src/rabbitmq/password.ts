// RabbitMQ's internal password hash: base64(salt(4) || H(salt || utf8(password))). Computing it
// here lets the operator check a stored password against the Secret without logging in, and send
// `password_hash` instead of `password` (which re-salts on every PUT and so is never a no-op).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const HASHING_ALGORITHMS = [
  'rabbit_password_hashing_sha256',
  'rabbit_password_hashing_sha512',
  'rabbit_password_hashing_md5',
] as const;

export type HashingAlgorithm = (typeof HASHING_ALGORITHMS)[number];

const DIGEST: Record<HashingAlgorithm, string> = {
  rabbit_password_hashing_sha256: 'sha256',
  rabbit_password_hashing_sha512: 'sha512',
  rabbit_password_hashing_md5: 'md5',
};

const SALT_BYTES = 4;

/** The broker accepts any algorithm name, and a user with an unknown one can never log in. */
export function isHashingAlgorithm(x: unknown): x is HashingAlgorithm {
  return typeof x === 'string' && (HASHING_ALGORITHMS as readonly string[]).includes(x);
}

export function hashPassword(
  password: string,
  algorithm: HashingAlgorithm = 'rabbit_password_hashing_sha256',
  salt: Buffer = randomBytes(SALT_BYTES),
): string {
  if (!isHashingAlgorithm(algorithm))
    throw new RangeError(`unknown hashing algorithm '${String(algorithm)}'`);
  if (salt.length !== SALT_BYTES) throw new RangeError(`salt must be ${SALT_BYTES} bytes`);
  const digest = createHash(DIGEST[algorithm])
    .update(Buffer.concat([salt, Buffer.from(password, 'utf8')]))
    .digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

/**
 * Whether `password` hashes to the stored value, reusing the stored salt. False for an empty hash
 * (password login disabled), an unknown algorithm or a malformed value.
 */
export function passwordMatches(storedB64: string, algorithm: string, password: string): boolean {
  if (!isHashingAlgorithm(algorithm)) return false;
  const stored = Buffer.from(storedB64, 'base64');
  if (stored.length <= SALT_BYTES) return false;
  const expected = Buffer.from(hashPassword(password, algorithm, stored.subarray(0, SALT_BYTES)), 'base64');
  return expected.length === stored.length && timingSafeEqual(expected, stored);
}
