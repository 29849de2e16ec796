import type { RabbitUserSpec } from '../../api/user.ts';
import * as page from '../../kinds/user.ts';
import { normalizeTags } from '../../rabbitmq/index.ts';
import { hashingAlgorithmOf } from '../definitions.ts';
import type { CliKind } from '../types.ts';
import { limitsSpec, q } from './common.ts';

const LIMITS = { 'max-connections': 'maxConnections', 'max-channels': 'maxChannels' };

export const user: CliKind<RabbitUserSpec> = {
  kind: page.userKind,
  describe: ([, name]) => `user ${q(name!)}`,
  credentialsHelp: { noun: 'user password hashes', keys: 'key passwordHash, or password' },

  fromDefinitions(defs, add) {
    for (const u of defs.users ?? []) {
      const limits = { ...(u.limits ?? {}) };
      add(page.usersTable, [u.name], {
        name: u.name,
        password_hash: u.password_hash ?? '',
        // Named in the Secret even where the file names none, so that warren hashes the same way.
        hashing_algorithm: u.password_hash ? hashingAlgorithmOf(u, defs) : (u.hashing_algorithm ?? ''),
        tags: normalizeTags(u.tags),
        limits,
      });
      // As GET /api/user-limits: only users that have limits.
      if (Object.keys(limits).length) add(page.userLimitsTable, [u.name], limits);
    }
  },

  export: (inv) =>
    inv.rows(page.usersTable).map(([[name], u]) => ({
      identity: ['user', name!],
      nameParts: [name!],
      brokerName: { field: 'username', value: name! },
      matchNames: [name!],
      spec: {
        tags: u.tags.length ? u.tags : undefined,
        limits: limitsSpec(inv.row(page.userLimitsTable, name!) ?? u.limits, LIMITS),
        passwordless: u.password_hash === '' || undefined,
      },
      // The hash goes into a Secret of its own (never into the manifest); warren reads it as is.
      credentials: u.password_hash
        ? {
            passwordHash: u.password_hash,
            ...(u.hashing_algorithm ? { hashingAlgorithm: u.hashing_algorithm } : {}),
          }
        : undefined,
    })),

  // The Secret it imports, or the one warren generates (none when passwordless).
  secretNames: (r) =>
    r.spec.passwordless ? [] : [r.spec.credentialsSecretRef?.name ?? page.generatedSecretName(r)],

  plan(r, inv, ctx) {
    const d = page.fromSpec(r);
    const actual = inv.row(page.usersTable, d.username);
    if (!actual) return { exists: false, differences: [] };
    const differences = page.differences(d, actual, inv.row(page.userLimitsTable, d.username) ?? {});
    const notes: string[] = [];
    const password = (spec: string) => differences.push({ field: 'password', broker: '(another)', spec });
    const ns = r.metadata.namespace;
    if (r.spec.passwordless) {
      if (!page.credentialMatches({ kind: 'none' }, actual.password_hash, actual.hashing_algorithm))
        password('(none)');
    } else {
      const imported = r.spec.credentialsSecretRef?.name;
      const name = imported ?? page.generatedSecretName(r);
      const secret = ctx.secret(ns, name);
      if (secret === 'unknown') notes.push(`password not compared: Secret ${ns}/${name} could not be read`);
      else if (!secret && imported) notes.push(`password not compared: Secret ${ns}/${name} not given`);
      else if (!secret) password(`(generated into Secret ${name})`);
      else if (!imported && secret.metadata?.labels?.['app.kubernetes.io/managed-by'] !== 'warren')
        // Someone else's Secret of the generated name: the operator leaves it alone (SecretConflict).
        notes.push(
          `password not compared: Secret ${ns}/${name} was not made by warren, which will not use it`,
        );
      else {
        const c = page.secretCredential(secret);
        if (!c) notes.push(`Secret ${ns}/${name} holds neither password nor passwordHash`);
        else if (!page.credentialMatches(c, actual.password_hash, actual.hashing_algorithm))
          password(`(from Secret ${name})`);
      }
    }
    return { exists: true, differences, notes };
  },
};
