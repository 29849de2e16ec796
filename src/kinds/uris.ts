// AMQP URIs from Secrets (shovels, federation upstreams). They carry credentials: they go to the
// broker and nowhere else. Messages about them name the Secret and key, never the value.
import type * as k8s from '@kubernetes/client-node';
import { Reasons, type Resource } from '../api/common.ts';
import { redact } from '../rabbitmq/index.ts';
import { secretValue, type SecretCache } from '../runtime/secrets.ts';
import { Blocked, depKeys, type KindContext } from './types.ts';

export interface SecretUris {
  /** Per key: the URIs in order (a key may list several, separated by commas). */
  uris: Record<string, string[]>;
  /** Strings to keep out of anything shown: the URIs and their passwords, raw and decoded. */
  secrets: string[];
}

/** The value a parameter takes: one URI as a string, several as a list. */
export const uriValue = (uris: string[]): string | string[] => (uris.length === 1 ? uris[0]! : uris);

/** Reads and checks the URIs; Blocked (SecretNotFound, InvalidSecret) when it cannot. */
export async function readUris(
  r: Resource<{ uriSecretRef: { name: string } }, unknown>,
  keys: string[],
  ctx: Pick<KindContext, 'secrets' | 'dependOn'>,
): Promise<SecretUris> {
  const { namespace } = r.metadata;
  const name = r.spec.uriSecretRef.name;
  ctx.dependOn(depKeys.secret(namespace, name));
  const found = await urisFrom(ctx.secrets, namespace, name, keys);
  if (typeof found === 'string') {
    throw new Blocked(
      found.startsWith('not found') ? Reasons.SecretNotFound : Reasons.InvalidSecret,
      `Secret ${namespace}/${name} ${found}`,
    );
  }
  return found;
}

/** The URIs, or why they cannot be used (without their values). For the survey too. */
export async function urisFrom(
  secrets: SecretCache,
  namespace: string,
  name: string,
  keys: string[],
): Promise<SecretUris | string> {
  return urisOf(await secrets.get(namespace, name), keys);
}

/** The URIs a Secret holds, or why they cannot be used (without their values). Pure: `warren diff` too. */
export function urisOf(secret: k8s.V1Secret | undefined, keys: string[]): SecretUris | string {
  if (!secret) return 'not found';
  const out: SecretUris = { uris: {}, secrets: [] };
  for (const key of keys) {
    const text = secretValue(secret, key);
    if (text === undefined) return `has no key ${key}`;
    const list = text
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '');
    if (!list.length) return `key ${key} holds no URI`;
    for (const [i, uri] of list.entries()) {
      const problem = check(uri);
      if (problem) return `key ${key}: URI ${i + 1} ${problem}`;
      out.secrets.push(...secretsOf(uri));
    }
    out.uris[key] = list;
  }
  return out;
}

function check(uri: string): string | undefined {
  // The broker prints a URI it cannot parse in full, and non-ASCII as character codes that no
  // redaction would recognise: refuse those here, naming neither.
  if (!/^[\x21-\x7e]+$/.test(uri)) return 'has spaces or non-ASCII characters (percent-encode them)';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not a URI';
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') return 'must start with amqp:// or amqps://';
  if (url.port !== '' && !/^\d+$/.test(url.port)) return 'has a port that is not a number';
  return undefined;
}

function secretsOf(uri: string): string[] {
  const url = new URL(uri);
  const out = [uri];
  if (url.password) {
    out.push(url.password);
    try {
      out.push(decodeURIComponent(url.password));
    } catch {
      /* not percent-encoded validly: the raw form is enough */
    }
  }
  return out;
}

/** A URI with no host is the broker itself (a direct connection): the vhost it connects to. */
export function localVhost(uri: string): string | undefined {
  const url = new URL(uri);
  if (url.host !== '') return undefined;
  return url.pathname === '' ? '/' : decodeURIComponent(url.pathname.slice(1));
}

/** Broker text (a shovel's reason, a link's error) made safe to show. */
export const safe = (text: string, uris: SecretUris | undefined) =>
  redact(text, uris?.secrets ?? [])
    .replace(/\s+/g, ' ')
    .trim();
