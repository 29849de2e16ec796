import type { Logger } from 'pino';
import type { KindDef, Reason, Resource } from '../api/common.ts';
import type {
  Capabilities,
  ManagementClient,
  Permission,
  QueueInfo,
  TopicPermission,
  UserInfo,
  VhostInfo,
} from '../rabbitmq/index.ts';
import type { Kube } from '../runtime/kube.ts';
import type { SecretCache } from '../runtime/secrets.ts';

/** A reconcile cannot go on for a reason the user can act on; becomes Ready=False with that reason. */
export class Blocked extends Error {
  readonly reason: Reason;
  constructor(reason: Reason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface KindContext {
  client: ManagementClient;
  /** "<namespace>/<name>" of the RabbitBroker in use. */
  brokerKey: string;
  log: Logger;
  kube: Kube;
  secrets: SecretCache;
  /** Another warren resource from the informer caches. */
  lookup(plural: string, namespace: string, name: string): Resource<any, any> | undefined;
  /** Records that this resource must be reconciled again when `dep` changes (see DependencyIndex). */
  dependOn(dep: string): void;
}

/**
 * What one kind contributes to the generic topology reconciler: how its spec maps to a broker
 * object, and how to bring that object in line (read, compare, write only what differs) or
 * remove it. Everything else (finalizers, brokers, ownership, status, events, retries) is generic.
 */
export interface TopologyKind<Spec = any, Desired = any, Status = any> {
  def: KindDef;
  /** The broker object this resource declares, from its spec alone (ownership index key). */
  identity(r: Resource<Spec, Status>): string;
  /** Resolves defaults, references and secrets; throws Blocked when it cannot. */
  desired(r: Resource<Spec, Status>, ctx: KindContext): Promise<Desired> | Desired;
  /** Makes the broker match; returns true when it wrote anything. */
  apply(d: Desired, r: Resource<Spec, Status>, ctx: KindContext): Promise<boolean>;
  /** Deletes the broker object; a missing object counts as deleted. */
  remove(r: Resource<Spec, Status>, ctx: KindContext): Promise<void>;
  /**
   * Whether a Ready resource's broker object, as the bulk survey saw it, still matches. Kinds
   * without it are not surveyed. Reads only the snapshot and caches: never the broker.
   */
  inSync?(r: Resource<Spec, Status>, snap: Snapshot, ctx: SurveyContext): boolean | Promise<boolean>;
  /** The snapshot entries this resource accounts for (`<table>|<key>`), so the rest count as unmanaged. */
  claims?(r: Resource<Spec, Status>): string[];
  /** The vhost whose queue list the survey must read for this resource, if any. */
  surveyVhost?(r: Resource<Spec, Status>): string | undefined;
  /** Status fields describing what is in effect, besides conditions. */
  status?(d: Desired, r: Resource<Spec, Status>): Record<string, unknown>;
}

export const depKeys = {
  resource: (plural: string, namespace: string, name: string) => `res:${plural}/${namespace}/${name}`,
  secret: (namespace: string, name: string) => `secret:${namespace}/${name}`,
  broker: (brokerKey: string) => `broker:${brokerKey}`,
  object: (brokerKey: string, identity: string) => `obj:${brokerKey}|${identity}`,
};

/** One broker's state from a few cheap bulk reads. */
export interface Snapshot {
  caps: Capabilities;
  vhosts: Map<string, VhostInfo>;
  vhostLimits: Map<string, Record<string, number>>;
  users: Map<string, UserInfo>;
  userLimits: Map<string, Record<string, number>>;
  /** Keyed by `${vhost}|${user}`. */
  permissions: Map<string, Permission>;
  /** Keyed by `${vhost}|${user}|${exchange}`. */
  topicPermissions: Map<string, TopicPermission>;
  /** Queues of the vhosts that hold managed queues, keyed by vhost then name. */
  queues: Map<string, Map<string, QueueInfo>>;
}

export interface SurveyContext {
  secrets: SecretCache;
}
