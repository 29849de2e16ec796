// Every name in a management API path is exactly one segment: the default vhost "/" must become
// %2F, and names may hold spaces, '#', '?', '%' or UTF-8.

/**
 * Tagged template for management API paths: api`/queues/${vhost}/${name}` gives
 * "/api/queues/%2F/orders". Every interpolated value is encodeURIComponent-ed; the literal parts
 * are used as written.
 */
export function api(strings: TemplateStringsArray, ...values: Array<string | number>): string {
  let out = '/api' + strings[0];
  values.forEach((value, i) => {
    out += segment(value) + strings[i + 1];
  });
  return out;
}

/** Encodes one path segment, refusing the names the broker's router can't address. */
export function segment(value: string | number): string {
  const s = String(value);
  // Cowboy resolves "." and ".." (also when percent-encoded) before routing, and an empty segment
  // drops a level, so such a request would reach a different resource: refuse rather than act on
  // the wrong object. (The default exchange is addressed as "amq.default".)
  if (s === '' || s === '.' || s === '..') {
    throw new RangeError(`the name '${s}' can't be addressed through the management API`);
  }
  return encodeURIComponent(s);
}
