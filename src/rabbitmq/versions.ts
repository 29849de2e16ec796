// The one place where differences between RabbitMQ versions live. Everything else asks
// `capabilities(version)` instead of comparing version numbers itself.
//
// Also seen in warren's test matrix (3.10.8, 4.0.5, 4.3.6), and handled without a version check:
// - 4.3.6 refuses a topic permission on an exchange that does not exist (400 no_such_exchange);
//   3.10.8 and 4.0.5 accept it. kinds/subject.ts reports WaitingForDependency.
// - 4.3.6 answers an AMQP-backed error (inequivalent arg, if-empty on a quorum queue, ...) with a
//   bare 500 when the vhost's name is not ASCII: the broker's reason is lost, warren reports
//   Rejected with the status alone.
// - A failed login is 401 "Login failed" on 3.10 and 401 "Not_Authorized" on 4.3: both map to
//   Unauthorized (errors.ts).
// - 4.3.6 as packaged by Debian still accepts durable:false non-exclusive queues; warren always
//   sends durable explicitly either way.

export interface Version {
  major: number;
  minor: number;
  patch: number;
}

/** Parses "3.10.8", "4.2.0-rc.1", "3.13.7+2.g1234" or "4.1" (pre-release and build parts are ignored). */
export function parseVersion(version: string): Version {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(version.trim());
  if (!m) throw new RangeError(`not a RabbitMQ version: '${version}'`);
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

export function compareVersions(a: Version, b: Version): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function atLeast(v: Version, version: string): boolean {
  return compareVersions(v, parseVersion(version)) >= 0;
}

/** What a vhost PUT that leaves out the default queue type does to the stored value. */
export type VhostPutWithoutDqt = 'ignored' | 'clears' | 'keeps' | 'resetsToNodeDefault';

export interface Capabilities {
  version: Version;
  /** 3.11.12+ reads `default_queue_type`; older versions only `defaultqueuetype` (we send both). */
  vhostDqtSnakeCaseKey: boolean;
  /** 3.11.17+ applies a changed default queue type on update; older ones only at creation. */
  vhostDqtUpdatable: boolean;
  vhostPutWithoutDqt: VhostPutWithoutDqt;
  /** A vhost PUT without the default queue type changes it (3.11.17–3.13, 4.2+): always send it. */
  vhostPutWithoutDqtResets: boolean;
  /** 4.0+ injects `x-queue-type` into every queue's arguments. */
  queueTypeAlwaysInArguments: boolean;
  /** 4.2+ has `type` among the queue list's basic columns; before, asking for it computes stats. */
  queueTypeIsBasicColumn: boolean;
  /** Classic mirroring was removed in 4.0: `ha-*` policy keys are rejected. */
  haPolicyKeysRejected: boolean;
  /** 4.1+: vhost deletion protection (412 on delete). */
  deletionProtection: boolean;
  /** 4.3 denies durable:false non-exclusive queues by default. */
  transientNonExclusiveQueuesDenied: boolean;
  /** 3.12+: policy apply-to accepts classic_queues, quorum_queues, streams. */
  policyApplyToQueueTypes: boolean;
  /** 4.2+: users tagged `protected` can't be changed over HTTP. */
  protectedUserTag: boolean;
  /** 4.0+: quorum queues have an implicit delivery limit (20) that is not in their arguments. */
  quorumImplicitDeliveryLimit: number | undefined;
  /** GET vhost reports an unset default queue type as the string "undefined" (before 4.0). */
  vhostDqtUnsetIsUndefinedString: boolean;
  /** 3.11+: super streams (partitioned streams the stream clients discover through the exchange). */
  superStreams: boolean;
}

export function capabilities(version: string | Version): Capabilities {
  const v = typeof version === 'string' ? parseVersion(version) : version;
  const at = (s: string) => atLeast(v, s);
  let vhostPutWithoutDqt: VhostPutWithoutDqt;
  if (at('4.2.0')) vhostPutWithoutDqt = 'resetsToNodeDefault';
  else if (at('4.0.0')) vhostPutWithoutDqt = 'keeps';
  else if (at('3.11.17')) vhostPutWithoutDqt = 'clears';
  else vhostPutWithoutDqt = 'ignored';
  return {
    version: v,
    vhostDqtSnakeCaseKey: at('3.11.12'),
    vhostDqtUpdatable: at('3.11.17'),
    vhostPutWithoutDqt,
    vhostPutWithoutDqtResets: vhostPutWithoutDqt === 'clears' || vhostPutWithoutDqt === 'resetsToNodeDefault',
    queueTypeAlwaysInArguments: at('4.0.0'),
    queueTypeIsBasicColumn: at('4.2.0'),
    haPolicyKeysRejected: at('4.0.0'),
    deletionProtection: at('4.1.0'),
    transientNonExclusiveQueuesDenied: at('4.3.0'),
    policyApplyToQueueTypes: at('3.12.0'),
    protectedUserTag: at('4.2.0'),
    quorumImplicitDeliveryLimit: at('4.0.0') ? 20 : undefined,
    vhostDqtUnsetIsUndefinedString: !at('4.0.0'),
    superStreams: at('3.11.0'),
  };
}

export const QUEUE_TYPES = ['classic', 'quorum', 'stream'] as const;
export type QueueType = (typeof QUEUE_TYPES)[number];

export function isQueueType(x: unknown): x is QueueType {
  return typeof x === 'string' && (QUEUE_TYPES as readonly string[]).includes(x);
}

/** The queue's type as its arguments say; no `x-queue-type` means classic. */
export function queueTypeFromArguments(args: Record<string, unknown> | undefined): string {
  const t = args?.['x-queue-type'];
  return typeof t === 'string' && t !== '' ? t : 'classic';
}

/** Columns for a cheap queue listing: only basic ones, so the broker doesn't compute stats. */
export function queueListColumns(caps: Capabilities): string[] {
  // `exclusive` tells connection-owned queues, which nobody declares (warren export leaves them out).
  const cols = ['name', 'vhost', 'durable', 'auto_delete', 'exclusive', 'arguments'];
  return caps.queueTypeIsBasicColumn ? [...cols, 'type'] : cols;
}

/**
 * Queue arguments in a form fit for comparing desired with actual. `x-queue-type` is dropped when
 * it equals the effective type: 4.0+ adds it to every queue and 3.x adds it from the vhost's
 * default, and classic ↔ absent is equivalent to the broker anyway. A differing `x-queue-type` is
 * kept so the difference shows. Keys are sorted so JSON comparison is stable. The rule is the same
 * on every supported version today; `_caps` is taken so that a future version-specific rule lands
 * here and not in the callers.
 */
export function normalizeQueueArguments(
  args: Record<string, unknown> | undefined,
  effectiveType: string,
  _caps: Capabilities,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(args ?? {}).sort()) {
    const value = args![key];
    if (key === 'x-queue-type' && value === effectiveType) continue;
    out[key] = value;
  }
  return out;
}
