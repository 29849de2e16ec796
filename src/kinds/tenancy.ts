// Tenancy: the one guard every broker name passes before warren writes or deletes it (docs/tenancy.md).
// The broker's own namespace is never restricted. Another namespace must be admitted by
// allowedNamespaces, and then gets the first `tenants` rule that matches it, or the default rule:
// every vhost, no privileged tag, no operator policy, no adoption of existing users. Names are
// checked in the form the broker reads them: tags split on commas and trimmed, URIs parsed into
// the host and the percent-decoded vhost they reach.
import type { TenantRule } from '../api/broker.ts';
import { brokerTags } from '../rabbitmq/index.ts';
import type { BrokerResource } from './brokers.ts';

/** Tags that let a user administer the broker, change its policies, act as others, or see every tenant. */
export const PRIVILEGED_TAGS = ['administrator', 'policymaker', 'impersonator', 'monitoring'];

/** What a resource would touch in the broker. */
export interface Touch {
  /** The vhost its object lives in. */
  vhost?: string;
  /** For a RabbitVhost: the vhost it declares (created, changed and deleted with it). */
  declaresVhost?: string;
  /** For a user: its name and the tags it would carry (as written in the spec). */
  user?: { name: string; tags: string[] };
  /** The URIs its object connects with (shovels, federation upstreams). */
  uris?: string[];
  /** An operator policy (the platform's caps). */
  operatorPolicy?: boolean;
}

/** What the guard knows of the broker beyond its resource: from warren's own connection, never a status. */
export interface BrokerFacts {
  /** The user warren logs in as. */
  username?: string;
  /** Host names that reach this broker (its management endpoint's). */
  hosts?: string[];
}

/** Shell-like pattern: '*' matches any characters (also none); everything else is literal. */
export function matches(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const parts = pattern.split('*');
  if (!value.startsWith(parts[0]!)) return false;
  let at = parts[0]!.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const found = value.indexOf(parts[i]!, at);
    if (found < 0) return false;
    at = found + parts[i]!.length;
  }
  const last = parts[parts.length - 1]!;
  return value.length - at >= last.length && value.endsWith(last);
}

/** Space and format characters at either end of a string. */
const EDGES = /^[\p{White_Space}\p{Cf}]+|[\p{White_Space}\p{Cf}]+$/gu;

const anyMatch = (patterns: string[], value: string) => patterns.some((p) => matches(p, value));

/** The rule that applies to a namespace: its index in spec.tenants, or -1 for the default rule. */
export function ruleFor(broker: BrokerResource, namespace: string): { index: number; rule: TenantRule } {
  const rules = broker.spec.tenants ?? [];
  const index = rules.findIndex((r) => anyMatch(r.namespaces, namespace));
  return index >= 0 ? { index, rule: rules[index]! } : { index: -1, rule: { namespaces: ['*'] } };
}

const brokerKeyOf = (b: BrokerResource) => `${b.metadata.namespace}/${b.metadata.name}`;

/** Whether tenancy rules apply to this namespace at all (every namespace but the broker's own). */
export const restricted = (broker: BrokerResource, namespace: string) =>
  namespace !== broker.metadata.namespace;

/** Why a namespace may not use the broker at all (allowedNamespaces), if it may not. */
export function notAdmitted(broker: BrokerResource, namespace: string): string | undefined {
  if (!restricted(broker, namespace)) return undefined;
  const allowed = broker.spec.allowedNamespaces ?? [];
  if (allowed.includes('*') || allowed.includes(namespace)) return undefined;
  return `RabbitBroker ${brokerKeyOf(broker)} does not list namespace ${namespace} in allowedNamespaces`;
}

function describeRule(broker: BrokerResource, namespace: string, index: number, rule: TenantRule): string {
  return index >= 0
    ? `RabbitBroker ${brokerKeyOf(broker)} spec.tenants[${index}] (namespaces ${rule.namespaces.join(', ')})`
    : `RabbitBroker ${brokerKeyOf(broker)} (no spec.tenants rule matches namespace ${namespace}: the default rule)`;
}

/**
 * Why a resource in `namespace` may not do `touch` through this broker, naming the rule; undefined
 * when it may. Every write and every deletion of a resource passes here first.
 */
export function refusal(
  broker: BrokerResource,
  namespace: string,
  touch: Touch,
  facts: BrokerFacts = {},
): string | undefined {
  if (!restricted(broker, namespace)) return undefined;
  const outside = notAdmitted(broker, namespace);
  if (outside) return outside;
  const brokerKey = brokerKeyOf(broker);
  const { index, rule } = ruleFor(broker, namespace);
  const which = describeRule(broker, namespace, index, rule);
  if (touch.user && facts.username !== undefined && touch.user.name === facts.username) {
    return `RabbitBroker ${brokerKey}: user '${facts.username}' is the broker's own administrator: only namespace ${broker.metadata.namespace} may declare it`;
  }
  if (touch.operatorPolicy && !rule.operatorPolicies) {
    return `${which} does not allow operator policies (the platform's caps): set the rule's operatorPolicies to true to allow them`;
  }
  const vhostRefused = (vhost: string) => {
    if (!rule.vhosts || anyMatch(rule.vhosts, vhost)) return undefined;
    const allowed = rule.vhosts.length ? `only vhosts ${rule.vhosts.join(', ')}` : 'no vhost';
    return `${which} allows ${allowed}, not '${vhost}'`;
  };
  for (const vhost of [touch.vhost, touch.declaresVhost]) {
    const no = vhost === undefined ? undefined : vhostRefused(vhost);
    if (no) return no;
  }
  if (touch.declaresVhost !== undefined && rule.declareVhosts) {
    if (!anyMatch(rule.declareVhosts, touch.declaresVhost)) {
      const allowed = rule.declareVhosts.length ? `only vhosts ${rule.declareVhosts.join(', ')}` : 'no vhost';
      return `${which} lets this namespace declare ${allowed} (others it may only use), not '${touch.declaresVhost}'`;
    }
  }
  const tags = touch.user ? brokerTags(touch.user.tags) : [];
  for (const tag of tags) {
    // What some trim would still take off (the broker's trims more than JavaScript's): ambiguous.
    if (tag.replace(EDGES, '') !== tag)
      return `${which}: tag '${tag}' has spaces or invisible characters at an end, which the broker may read otherwise`;
    if (rule.userTags) {
      if (!anyMatch(rule.userTags, tag)) {
        return `${which} allows user tags ${rule.userTags.join(', ') || '(none)'}, not '${tag}'`;
      }
    } else if (PRIVILEGED_TAGS.includes(tag.toLowerCase())) {
      return `${which} does not grant tag '${tag}': list it in the rule's userTags to allow it`;
    }
  }
  for (const [i, uri] of (touch.uris ?? []).entries()) {
    const no = uriRefusal(uri, facts.hosts ?? [], vhostRefused);
    if (no) return `URI ${i + 1}: ${no} (${which})`;
  }
  return undefined;
}

/**
 * Whether a tenant may take over an existing broker user that no resource of its namespace
 * created: only where its rule lists the name in adoptUsers.
 */
export function adoptionRefusal(
  broker: BrokerResource,
  namespace: string,
  user: string,
  createdBy: string | undefined,
): string | undefined {
  if (!restricted(broker, namespace) || createdBy === namespace) return undefined;
  const { index, rule } = ruleFor(broker, namespace);
  if (rule.adoptUsers && anyMatch(rule.adoptUsers, user)) return undefined;
  const by = createdBy ? `namespace ${createdBy}'s resources` : 'something other than this namespace';
  return `user '${user}' already exists in the broker, made by ${by}: ${describeRule(broker, namespace, index, rule)} does not list it in adoptUsers`;
}

// ---------------------------------------------------------------- URIs

/** Query keys of an AMQP URI a tenant may set: none of them names a credential of the broker's. */
const TENANT_URI_KEYS = new Set([
  'heartbeat',
  'connection_timeout',
  'channel_max',
  'frame_max',
  'verify',
  'server_name_indication',
  'fail_if_no_peer_cert',
  'depth',
  'cacertfile',
]);

export interface UriReach {
  /** Lower case, without brackets or a trailing dot; '' for a direct (host-less) URI. */
  host: string;
  /** The vhost it connects to, as the broker decodes the path. */
  vhost: string;
  /** The user it logs in as, if it names one. */
  user?: string;
  /** Query keys. */
  keys: string[];
  /** Something the broker may read otherwise than this parse: refused for tenants. */
  ambiguous?: string;
}

/** The host, vhost and user an AMQP URI reaches, parsed as the broker's AMQP client does. */
export function uriReach(uri: string): UriReach {
  const m = /^amqps?:(\/\/([^/?#]*))?([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(uri);
  if (!m) return { host: '', vhost: '', keys: [], ambiguous: 'is not an amqp:// or amqps:// URI' };
  const authority = m[2] ?? '';
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at) : undefined;
  let host = (at >= 0 ? authority.slice(at + 1) : authority).toLowerCase();
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']') >= 0 ? host.indexOf(']') : undefined);
  else host = host.replace(/:\d*$/, '');
  host = host.replace(/\.$/, '');
  const path = m[3] ?? '';
  const out: UriReach = { host, vhost: '/', keys: [] };
  if (m[1] === undefined) out.ambiguous = 'has no //host part';
  if (m[5] !== undefined) out.ambiguous = 'has a fragment (#)';
  if (path !== '') {
    const raw = path.slice(1);
    if (raw.includes('/'))
      out.ambiguous = "has a path of more than one segment (encode '/' in a vhost as %2F)";
    try {
      out.vhost = decodeURIComponent(raw);
    } catch {
      out.ambiguous = 'has a vhost that is not validly percent-encoded';
    }
  }
  if (userinfo !== undefined) {
    try {
      out.user = decodeURIComponent(userinfo.split(':')[0]!);
    } catch {
      out.ambiguous = 'has a user name that is not validly percent-encoded';
    }
  }
  for (const pair of (m[4] ?? '').slice(1).split('&')) {
    if (pair === '') continue;
    let k = pair.split('=')[0]!;
    try {
      k = decodeURIComponent(k);
    } catch {
      out.ambiguous = 'has a query that is not validly percent-encoded';
    }
    out.keys.push(k.toLowerCase());
  }
  return out;
}

/** An IPv4 address as inet_aton reads it (1 to 4 parts, each decimal, 0x hex or 0 octal), else undefined. */
function ipv4(host: string): number[] | undefined {
  const parts = host.split('.');
  if (parts.length < 1 || parts.length > 4) return undefined;
  const nums: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0x[0-9a-f]*$/i.test(p)) n = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]+$/.test(p)) n = parseInt(p, 8);
    else if (/^[0-9]+$/.test(p)) n = parseInt(p, 10);
    else return undefined;
    nums.push(n);
  }
  const last = nums.pop()!;
  const lastBits = 32 - 8 * nums.length;
  if (nums.some((n) => n > 255) || last >= 2 ** lastBits) return undefined;
  const value = nums.reduce((acc, n, i) => acc + n * 2 ** (24 - 8 * i), 0) + last;
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255];
}

/** The host is this machine: a loopback or unspecified address, or a name for one. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost') || host === 'localhost.localdomain') return true;
  if (host === 'ip6-localhost' || host === 'ip6-loopback') return true;
  const v4 = ipv4(host);
  if (v4) return v4[0] === 127 || v4.every((b) => b === 0);
  if (host.includes(':')) {
    let h: string;
    try {
      h = new URL(`http://[${host}]/`).hostname.slice(1, -1);
    } catch {
      return true; // not an address the guard can read: treated as the worst case
    }
    if (h === '::1' || h === '::') return true;
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
    if (mapped) return parseInt(mapped[1]!, 16) >> 8 === 127 || (mapped[1] === '0' && mapped[2] === '0');
  }
  return false;
}

/** The names a Service's host goes by (`svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`); a plain host as it is. */
function aliases(host: string): string[] {
  const h = host.toLowerCase().replace(/\.$/, '');
  const labels = h.split('.');
  const service = labels.length === 2 || (labels.length >= 3 && labels[2] === 'svc');
  if (!service || ipv4(h)) return [h];
  const [svc, ns] = labels;
  return [h, svc!, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`];
}

/**
 * Why a tenant may not use this URI. A direct (host-less) URI or one to this machine would log in
 * as warren's administrator or as a loopback-only user (guest): never for tenants. A URI without
 * a user name falls back to guest: tenants name the user whose rights the link gets. A URI to
 * this broker's own host may reach only the vhosts the rule allows.
 */
function uriRefusal(
  uri: string,
  brokerHosts: string[],
  vhostRefused: (vhost: string) => string | undefined,
): string | undefined {
  const r = uriReach(uri);
  if (r.ambiguous) return `the URI ${r.ambiguous}`;
  if (r.host === '')
    return "a direct URI (no host) connects as warren's own user: only the broker's namespace may use one";
  if (isLoopback(r.host))
    return `host '${r.host}' is the broker's own machine: only the broker's namespace may use it`;
  if (r.user === undefined || r.user === '')
    return 'the URI names no user (it would log in as guest): put the credentials of a user of yours in it';
  const bad = r.keys.find((k) => !TENANT_URI_KEYS.has(k));
  if (bad !== undefined)
    return `query parameter '${bad}' is not allowed for tenants (only ${[...TENANT_URI_KEYS].join(', ')})`;
  const own = new Set(brokerHosts.flatMap(aliases));
  if (own.has(r.host)) return vhostRefused(r.vhost);
  return undefined;
}
