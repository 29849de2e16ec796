import type { Logger } from 'pino';
import type { KindDef, Reason, Resource } from '../api/common.ts';
import type { Capabilities, ManagementClient } from '../rabbitmq/index.ts';
import type { Kube } from '../runtime/kube.ts';
import type { SecretCache } from '../runtime/secrets.ts';
import { key } from './keys.ts';
import type { Touch } from './tenancy.ts';

/** A reconcile cannot go on for a reason the user can act on; becomes Ready=False with that reason. */
export class Blocked extends Error {
  readonly reason: Reason;
  constructor(reason: Reason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The broker object is kept on purpose: the finalizer goes without deleting, with a Warning saying why. */
export class Kept extends Error {}

/** Other warren resources, from the informer caches. */
export interface Refs {
  lookup(plural: string, namespace: string, name: string): Resource<any, any> | undefined;
}

export interface KindContext extends Refs {
  client: ManagementClient;
  /** "<namespace>/<name>" of the RabbitBroker in use. */
  brokerKey: string;
  log: Logger;
  kube: Kube;
  secrets: SecretCache;
  /** Records that this resource must be reconciled again when `dep` changes (see DependencyIndex). */
  dependOn(dep: string): void;
  /** Another resource (not being deleted, or retaining it) that declares this broker object. */
  declaredByOther(identity: string[]): string | undefined;
  /**
   * True when this resource was never applied and the last survey read where the row would be
   * without finding it: the kind may write without reading first (one request instead of two).
   */
  knownAbsent(table: Table, ...parts: string[]): boolean;
  /** What the last survey found in a vhost that no resource declares. */
  unmanagedIn(vhost: string): UnmanagedSummary | undefined;
  /**
   * The broker object this resource last applied, as this process saw it (warren's own
   * bookkeeping, never a status anyone can write): what a rename or a move leaves behind.
   */
  previous: string[] | undefined;
  /** The resource's namespace is not the broker's: tenancy rules apply (src/kinds/tenancy.ts). */
  tenant: boolean;
  /** Why this namespace may not adopt an existing broker user made elsewhere (tenancy.ts adoptionRefusal). */
  adoptionRefusal(user: string, createdBy: string | undefined): string | undefined;
}

/** What a write to the broker did: a created object wakes whatever waits for it. */
export type Applied = 'created' | 'updated' | 'unchanged';

/**
 * One bulk read of the drift survey. Rows are keyed by their names (a vhost-scoped table: the
 * vhost first). A kind lists the tables it reads; tables shared by kinds are read once.
 */
export interface Table<T = any> {
  name: string;
  /** 'broker': one read for the broker; 'vhost': one read per vhost holding managed objects. */
  scope: 'broker' | 'vhost';
  /** The rows by their key parts; built with entries() from a list the client keeps. */
  read(client: ManagementClient, vhost: string | undefined): Promise<ReadonlyArray<[string[], T]>>;
  /** A short word for an unmanaged row in status, e.g. "queue". */
  noun: string;
  /** Rows are settings of other objects (limits): never counted as unmanaged. */
  settings?: boolean;
  /** Read only while a resource of a kind listing it is on the broker (runtime states). */
  whenDeclared?: boolean;
}

const built = new WeakMap<object, Map<Table, ReadonlyArray<[string[], unknown]>>>();

/**
 * A list's rows as a table's entries ([key parts, row], or nothing to leave a row out), built once
 * per list: the management client hands back the very list of last time while the broker answers
 * the same, and then the survey finds the same entries and reuses what it made of them.
 */
export function entries<R, T>(
  table: Table<T>,
  list: readonly R[],
  entry: (row: R) => [string[], T] | undefined,
): ReadonlyArray<[string[], T]> {
  let byTable = built.get(list);
  const hit = byTable?.get(table);
  if (hit) return hit as ReadonlyArray<[string[], T]>;
  const out: Array<[string[], T]> = [];
  for (const row of list) {
    const e = entry(row);
    if (e) out.push(e);
  }
  if (!byTable) built.set(list, (byTable = new Map()));
  byTable.set(table, out);
  return out;
}

/** One broker's state from the survey's bulk reads. */
export interface Snapshot {
  caps: Capabilities;
  /** The row of `table` with these key parts, if the broker has it. */
  row<T>(table: Table<T>, ...parts: string[]): T | undefined;
}

export interface SurveyContext extends Refs {
  secrets: SecretCache;
}

/**
 * An object that is declared as specified but does not work (a shovel that cannot connect, a
 * failing federation link): Ready=False with this reason, the broker's own words in the message.
 */
export interface NotWorking {
  reason: Reason;
  message: string;
  /** It may work in a moment (starting): check again soon rather than at the next survey. */
  soon?: boolean;
}

/** The rows of the survey's tables that a resource accounts for. */
export const claim = (table: Table, ...parts: string[]) => key(table.name, ...parts);

export interface UnmanagedSummary {
  count: number;
  /** A few of them, as "<noun> <name>". */
  sample: string[];
}

/**
 * What one kind contributes to the generic topology reconciler: how its spec maps to a broker
 * object, and how to bring that object in line (read, compare, write only what differs) or
 * remove it. Everything else (finalizers, brokers, ownership, deletion safety, status, events,
 * retries, the survey's scheduling) is generic.
 */
export interface TopologyKind<Spec = any, Desired = any, Status = any> {
  def: KindDef;
  /**
   * The broker object this resource declares, as name parts with the object's type first. Two
   * resources with the same identity on one broker declare one object (one owns it, and neither
   * deletes it while the other still declares it). References resolve through the caches.
   */
  identity(r: Resource<Spec, Status>, refs: Refs): string[];
  /**
   * The other kinds (plurals) whose resources its references resolve through: its reconciles
   * wait for those caches too, and for no others (one tenant's long relist stalls only what reads it).
   */
  references?: readonly string[];
  /**
   * Spec fields the broker cannot change on an existing object (it refuses a declaration that
   * differs: inequivalent arg, PRECONDITION_FAILED): a difference needs the object deleted and
   * re-created. `warren diff` reports it as refused.
   */
  immutableFields?: ReadonlyArray<keyof Spec & string>;
  /** The vhost the object lives in (and is destroyed with), if any. */
  vhostOf?(r: Resource<Spec, Status>, refs: Refs): string | undefined;
  /**
   * What else it touches that tenancy rules may refuse (src/kinds/tenancy.ts), besides the vhost
   * it lives in or is: a user and its tags, the URIs it connects with (`d`, once desired() read
   * them), an operator policy. Every name here comes from the spec or what it references.
   */
  touches?(r: Resource<Spec, Status>, d?: Desired): Omit<Touch, 'vhost' | 'declaresVhost'>;
  /** For a vhost: its name in the broker (the objects whose vhostOf is this name live inside it). */
  holds?(r: Resource<Spec, Status>): string;
  /** Resolves defaults, references and secrets; throws Blocked when it cannot. */
  desired(r: Resource<Spec, Status>, ctx: KindContext): Promise<Desired> | Desired;
  /** Makes the broker match, writing only what differs. */
  apply(d: Desired, r: Resource<Spec, Status>, ctx: KindContext): Promise<Applied>;
  /** Deletes the broker object; a missing object counts as deleted. */
  remove(r: Resource<Spec, Status>, ctx: KindContext): Promise<void>;
  /**
   * For objects with a life of their own (shovels, federation links): after apply, whether the
   * broker reports it working. Such kinds are surveyed while not Ready too, so that inSync can
   * notice when their state changes either way.
   */
  check?(d: Desired, r: Resource<Spec, Status>, ctx: KindContext): Promise<NotWorking | undefined>;
  /** The survey's bulk reads this kind needs. Kinds without tables and inSync are not surveyed. */
  tables?: Table[];
  /**
   * Whether a Ready resource's broker object, as the survey saw it, still matches. Reads only the
   * snapshot and caches: never the broker.
   */
  inSync?(r: Resource<Spec, Status>, snap: Snapshot, ctx: SurveyContext): boolean | Promise<boolean>;
  /** The table rows this resource accounts for (see claim()), so the rest count as unmanaged. */
  claims?(r: Resource<Spec, Status>, refs: Refs): string[];
  /** Status fields describing what is in effect, besides conditions. */
  status?(d: Desired, r: Resource<Spec, Status>, ctx: KindContext): Record<string, unknown>;
}

export const depKeys = {
  resource: (plural: string, namespace: string, name: string) => key('res', plural, namespace, name),
  secret: (namespace: string, name: string) => key('secret', namespace, name),
  broker: (brokerKey: string) => key('broker', brokerKey),
  object: (brokerKey: string, identity: string[]) => key('obj', brokerKey, ...identity),
};
