import type { Logger } from 'pino';
import { createHash, randomBytes } from 'node:crypto';
import type { Resource } from '../api/common.ts';
import { apiStatus, describeError, microTime, type Kube } from './kube.ts';

export const REPORTING_CONTROLLER = 'warren.dev/operator';

// What the API server accepts in an Event (pkg/apis/core/validation/events.go, the same for
// events.k8s.io/v1 and core/v1). Go's len() counts bytes, so the text limits are UTF-8 bytes.
export const EVENT_LIMITS = { name: 253, reason: 128, action: 128, reportingInstance: 128, note: 1024 };

const MARK = '…';

const utf8Length = (cp: number) => (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);

/**
 * `s` in at most `max` UTF-8 bytes, cut between code points and ending in '…' when cut. (A lone
 * surrogate counts as the 3 bytes of the U+FFFD it is sent as.)
 */
export function truncateBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  const budget = max - Buffer.byteLength(MARK);
  let used = 0;
  let end = 0;
  for (const ch of s) {
    const n = utf8Length(ch.codePointAt(0)!);
    if (used + n > budget) break;
    used += n;
    end += ch.length;
  }
  return s.slice(0, end) + MARK;
}

/**
 * `<object>.<unique>`, a DNS subdomain of at most 253 characters. A longer object name keeps its
 * start and gains a hash of the whole name, so that events of two long names with the same start
 * still tell them apart.
 */
export function eventName(object: string, unique: string): string {
  const plain = `${object}.${unique}`;
  if (plain.length <= EVENT_LIMITS.name) return plain;
  const hash = createHash('sha256').update(object).digest('hex').slice(0, 10);
  const room = EVENT_LIMITS.name - unique.length - hash.length - 2;
  // A label may not end in '-' or '.' before the next separator.
  const start = object.slice(0, room).replace(/[-.]+$/, '');
  return `${start}-${hash}.${unique}`;
}

const field = (s: string, max: number, fallback: string) => truncateBytes(s, max) || fallback;

/** The events.k8s.io/v1 Event, every field within what the API server accepts. */
export function eventBody(
  obj: Resource,
  instance: string,
  type: 'Normal' | 'Warning',
  reason: string,
  action: string,
  note: string,
  unique = `${Date.now().toString(16)}${randomBytes(2).toString('hex')}`,
) {
  const namespace = obj.metadata.namespace;
  return {
    metadata: { name: eventName(obj.metadata.name, unique), namespace },
    eventTime: microTime(),
    type,
    // Required and non-empty, like reportingInstance.
    reason: field(reason, EVENT_LIMITS.reason, 'Unknown'),
    action: field(action, EVENT_LIMITS.action, 'Unknown'),
    note: truncateBytes(note, EVENT_LIMITS.note),
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: field(instance, EVENT_LIMITS.reportingInstance, 'warren'),
    regarding: {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata.name,
      namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
    },
  };
}

/** Publishes events.k8s.io/v1 events; best effort, failures are logged, never thrown. */
export class Recorder {
  private readonly kube: Kube;
  private readonly instance: string;
  private readonly log: Logger;

  constructor(kube: Kube, instance: string, log: Logger) {
    this.kube = kube;
    this.instance = instance;
    this.log = log;
  }

  async emit(obj: Resource, type: 'Normal' | 'Warning', reason: string, action: string, note: string) {
    const namespace = obj.metadata.namespace;
    try {
      await this.kube.create(
        `/apis/events.k8s.io/v1/namespaces/${namespace}/events`,
        eventBody(obj, this.instance, type, reason, action, note),
      );
    } catch (err) {
      // An event the API server finds invalid is warren's bug, not a passing failure: say so.
      const level = apiStatus(err)?.code === 422 ? 'warn' : 'debug';
      this.log[level]({ err: describeError(err), reason }, 'event not recorded');
    }
  }
}
