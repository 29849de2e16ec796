import { describe, expect, it } from 'vitest';
import { redact } from '../../src/rabbitmq/index.ts';
import { Blocked } from '../../src/kinds/types.ts';
import { localVhost, readUris, uriValue } from '../../src/kinds/uris.ts';
import type { SecretCache } from '../../src/runtime/secrets.ts';

// URIs from Secrets carry credentials: they are checked without being echoed, and whatever the
// broker says about them is redacted.

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secrets = (data?: Record<string, string>) =>
  ({
    get: async () => data && { data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) },
  }) as unknown as SecretCache;
const resource = { metadata: { namespace: 'ns', name: 'r' }, spec: { uriSecretRef: { name: 's' } } } as any;
const read = async (data: Record<string, string> | undefined, keys = ['uri']) => {
  const deps: string[] = [];
  try {
    return await readUris(resource, keys, { secrets: secrets(data), dependOn: (d) => deps.push(d) });
  } finally {
    expect(deps).toEqual([JSON.stringify(['secret', 'ns', 's'])]);
  }
};
const refusal = async (data: Record<string, string> | undefined, keys = ['uri']) => {
  const err = await read(data, keys).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Blocked);
  return err as Blocked;
};

describe('URIs from a Secret', () => {
  it('reads one URI as a string and several, comma separated, as a list', async () => {
    const one = await read({ uri: ' amqp://u:p@h:5672/v ' });
    expect(uriValue(one.uris.uri!)).toBe('amqp://u:p@h:5672/v');
    const two = await read({ src: 'amqp://a:pw1@h1, amqps://b:pw%402@h2/%2F', dest: 'amqp://' }, [
      'src',
      'dest',
    ]);
    expect(uriValue(two.uris.src!)).toEqual(['amqp://a:pw1@h1', 'amqps://b:pw%402@h2/%2F']);
    expect(uriValue(two.uris.dest!)).toBe('amqp://');
    // The URIs, their passwords, raw and decoded, are what must never be shown.
    expect(two.secrets).toEqual(
      expect.arrayContaining(['amqp://a:pw1@h1', 'pw1', 'amqps://b:pw%402@h2/%2F', 'pw%402', 'pw@2']),
    );
  });

  it('refuses what it cannot use, naming the Secret and key but never the value', async () => {
    expect((await refusal(undefined)).reason).toBe('SecretNotFound');
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /has no key uri/],
      [{ uri: ' , ' }, /key uri holds no URI/],
      [{ uri: 'amqp://u:pässword@h' }, /URI 1 has spaces or non-ASCII/],
      [{ uri: 'amqp://h, http://u:secret1@h' }, /URI 2 must start with amqp/],
      [{ uri: 'amqp://u:secret2@h:port/' }, /URI 1 is not a URI/],
    ];
    for (const [data, why] of cases) {
      const err = await refusal(data);
      expect(err.reason).toBe('InvalidSecret');
      expect(err.message).toMatch(/^Secret ns\/s /);
      expect(err.message).toMatch(why);
      for (const v of Object.values(data)) if (v.trim()) expect(err.message).not.toContain(v.trim());
      expect(err.message).not.toMatch(/secret\d|pässword/);
    }
  });

  it('knows a URI without host for a direct connection to a vhost of the broker itself', () => {
    expect(localVhost('amqp://')).toBe('/');
    expect(localVhost('amqp:///%2F')).toBe('/');
    expect(localVhost('amqp:///a%2Fb')).toBe('a/b');
    expect(localVhost('amqp://host/v')).toBeUndefined();
    expect(localVhost('amqp://u:p@127.0.0.1:5672')).toBeUndefined();
  });
});

describe('redacting what the broker says about a URI', () => {
  it('removes a URI and its password, also HTML-escaped as the management API sends them', () => {
    const uri = 'amqp://us<er:p&a$s@h:x/';
    // As 3.10.8 answers such a URI (abridged): escaped, the URI whole and the password alone.
    const reason =
      'Validation failed "amqp://us&lt;er:p&amp;a$s@h:x/" not a valid URI: {malformed_uri, {amqp_params_network,<<"us&lt;er">>,<<"p&amp;a$s">>}}';
    const out = redact(reason, [uri, 'p&a$s']);
    expect(out).not.toContain('p&amp;a$s');
    expect(out).not.toContain('p&a$s');
    expect(out).toContain('not a valid URI');
  });

  it('removes the password of any URI in a text, even one it was not told about', () => {
    expect(redact('connecting to amqp://guest:hunter2@rabbit:5672/%2F failed', [])).toBe(
      'connecting to amqp://guest:***@rabbit:5672/%2F failed',
    );
    expect(redact('{"uri":"amqps://u:s3cr3t@h"}', [])).toBe('{"uri":"amqps://u:***@h"}');
    expect(redact('no credentials in amqp://h/v', [])).toBe('no credentials in amqp://h/v');
  });
});
