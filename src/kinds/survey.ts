import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import { Reasons, type Resource } from '../api/common.ts';
import { api, countRequests, type ManagementClient } from '../rabbitmq/index.ts';
import { findCondition, isReady, stalled } from '../runtime/conditions.ts';
import type { SecretCache } from '../runtime/secrets.ts';
import { key, nsName, parts, splitNsName } from './keys.ts';
import { PAUSE_ANNOTATION, shownPaused } from './topology.ts';
import type { Refs, Snapshot, Table, TopologyKind, UnmanagedSummary } from './types.ts';

export interface SurveyedKind {
  kind: TopologyKind;
  list: () => ReadonlyArray<Resource<any, any>>;
  enqueue: (key: string) => void;
  /** The "<namespace>/<name>" of the RabbitBroker a resource uses. */
  brokerOf: (r: Resource<any, any>) => string;
  /** Whether the broker's tenancy rules admit it: what they refuse is not surveyed, nor counted. */
  admitted?: (r: Resource<any, any>) => boolean;
}

export interface SurveyResult {
  lastSurveyTime: string;
  durationMs: number;
  /** The process's CPU time while the survey ran, in ms (whatever else ran meanwhile included). */
  cpuMs: number;
  /** Management API requests the survey made. */
  requests: number;
  /** Resources that declare an object in this broker. */
  managed: number;
  /** Ready resources whose object was missing or different, queued for repair. */
  drifted: number;
  /** Objects found drifted that a later survey found back in place, since this operator started. */
  repaired: number;
  /** Broker objects in the surveyed tables that no resource declares. */
  unmanaged: number;
  /** The broker lost its data or was replaced since the previous survey. */
  resetDetected: boolean;
}

// A global runtime parameter warren leaves in each broker: it vanishes with the broker's data,
// so its absence or change means the broker was reset or replaced.
const MARKER = 'warren.dev-broker-id';

/** The broker's marker as last seen; `ours`: this survey wrote it and has not read it back yet. */
export interface Marker {
  value: string;
  ours: boolean;
}

/**
 * Whether the broker lost its data since the last survey: its marker went missing, or was
 * replaced. Two RabbitBrokers on one new broker may both find it missing and both write one: the
 * one written last stands, and the other's next survey finds a value it did not expect. A value
 * replacing one this survey wrote itself (and never read back) is that race, not a reset.
 */
export function markerVerdict(
  seen: Marker | undefined,
  value: string,
  created: boolean,
): { reset: boolean; remember: Marker } {
  if (created) return { reset: seen !== undefined, remember: { value, ours: true } };
  return { reset: !!seen && seen.value !== value && !seen.ours, remember: { value, ours: false } };
}
const SAMPLE = 10;

type Member = { k: SurveyedKind; resources: Resource<any, any>[] };
type Unmanaged = { total: number; byVhost: Map<string, UnmanagedSummary> };
/** What one survey worked from and what it made of it, for the next one to reuse. */
type Round = {
  rules: number | undefined;
  /** The RabbitBroker's warren.dev/paused annotation (it pauses all of its resources). */
  paused: boolean;
  lists: ReadonlyArray<ReadonlyArray<Resource<any, any>>>;
  statuses: ReadonlyArray<ReadonlyArray<unknown>>;
  members: Member[];
  vhosts: Set<string>;
  caps: Snapshot['caps'];
  settled: Set<SurveyedKind>;
  claimed: Set<string>;
  unmanaged: Unmanaged;
};
type KeyedTable = {
  scopes: Array<string | undefined>;
  reads: ReadonlyArray<ReadonlyArray<[string[], unknown]>>;
  /** For a vhost table read broker-wide: the vhosts whose rows were kept. */
  only?: Set<string>;
  /** Rows of other vhosts left out of a broker-wide read. */
  outside: number;
  map: Map<string, unknown>;
};

/**
 * From this many vhosts on, the vhost tables are read broker-wide (one request per table, not one
 * per vhost and table), unless the last such read found more rows in other vhosts than in them.
 * Each request costs the broker and the operator more than a few hundred rows do.
 */
const WIDE_FROM_VHOSTS = 8;
/** Surveys read per vhost, after a broker-wide read found mostly other vhosts' rows, before trying again. */
const WIDE_RETRY_AFTER = 10;

/**
 * Finds drift with bulk reads per broker: the tables the kinds declare, broker-wide ones once and
 * vhost-wide ones for the vhosts holding managed objects, once per vhost or, with many vhosts, once
 * for the broker (no stats, basic columns, one request per list). It
 * queues exactly the resources whose object is missing or differs and never writes topology:
 * repairs go through the normal reconcile.
 */
export class Surveyor {
  private readonly kinds: SurveyedKind[];
  private readonly secrets: SecretCache;
  private readonly refs: Refs;
  private readonly log: Logger;
  private readonly lastDrifted = new Map<string, Set<string>>();
  private readonly markers = new Map<string, Marker>();
  private readonly repaired = new Map<string, number>();
  private readonly unmanagedByVhost = new Map<string, Map<string, UnmanagedSummary>>();
  /** Per broker, the keys each table held at the last survey and the vhosts read, to tell new objects absent. */
  private readonly lastOk = new Map<string, number>();
  private readonly present = new Map<
    string,
    { tables: Map<Table, ReadonlyMap<string, unknown>>; readable: Set<string> }
  >();
  /** Per broker, each table as last read: the rows and the map of them by key. */
  private readonly keyed = new Map<string, Map<Table, KeyedTable>>();
  /** Per broker, what the last survey worked from and what it made of it (see surveyOnce). */
  private readonly lastRound = new Map<string, Round>();
  /** Per broker, surveys left reading per vhost after a broker-wide read did not pay (see wide). */
  private readonly narrowFor = new Map<string, number>();

  /** What a resource ("<plural>|<namespace>/<name>") depends on (DependencyIndex.of). */
  private readonly dependencies: (dependent: string) => Iterable<string>;

  constructor(opts: {
    kinds: SurveyedKind[];
    secrets: SecretCache;
    refs: Refs;
    log: Logger;
    dependencies?: (dependent: string) => Iterable<string>;
  }) {
    this.kinds = opts.kinds;
    this.dependencies = opts.dependencies ?? (() => []);
    this.secrets = opts.secrets;
    this.refs = opts.refs;
    this.log = opts.log;
  }

  /** `rules`: the RabbitBroker's generation (its tenancy rules decide what is surveyed). */
  async survey(brokerKey: string, client: ManagementClient, rules?: number): Promise<SurveyResult> {
    try {
      return await this.surveyOnce(brokerKey, client, rules);
    } catch (err) {
      this.lastOk.delete(brokerKey); // resources fall back to their own resync until one succeeds
      throw err;
    }
  }

  private async surveyOnce(
    brokerKey: string,
    client: ManagementClient,
    rules?: number,
  ): Promise<SurveyResult> {
    const started = Date.now();
    const cpu0 = process.cpuUsage();
    // Idle, the resources are the very objects of last time (informers replace one that changes;
    // a status written is a new object) and so are the broker's rows (see read): then what was
    // worked out from them last time holds, and is not worked out again.
    // Nothing here allocates per resource when nothing changed: what lives through the survey's
    // awaits is promoted to the old generation, and at idle that growth is what starts a full
    // garbage collection (60 MB of heap to mark at 10,000 queues) in the middle of a survey.
    const round = this.lastRound.get(brokerKey);
    const brokerRes = this.refs.lookup('rabbitbrokers', ...splitNsName(brokerKey)) as
      Resource<unknown, unknown> | undefined;
    const brokerPaused = brokerRes?.metadata.annotations?.[PAUSE_ANNOTATION] === 'true';
    const lists = this.kinds.map((k, i) => {
      const l = k.list();
      const before = round?.lists[i];
      // The informers hand out one frozen list until their cache changes: kept as it is.
      return before && (l === before || sameItems(l, before)) ? before : Object.isFrozen(l) ? l : l.slice();
    });
    const statuses = lists.map((l, i) => {
      const before = round?.statuses[i];
      return before && sameStatuses(l, before) ? before : l.map((r) => r.status as unknown);
    });
    const sameResources =
      !!round &&
      round.rules === rules &&
      round.paused === brokerPaused &&
      lists.every((l, i) => l === round.lists[i]) &&
      statuses.every((st, i) => st === round.statuses[i]);
    const members: Member[] = sameResources
      ? round.members
      : this.kinds.map((k, i) => ({
          k,
          resources: lists[i]!.filter(
            (r) => k.brokerOf(r) === brokerKey && !r.metadata.deletionTimestamp && (k.admitted?.(r) ?? true),
          ),
        }));
    const managed = members.reduce((n, m) => n + m.resources.length, 0);

    const vhosts = sameResources ? round.vhosts : this.vhostsOf(members);
    const { result, requests } = await countRequests(async () => {
      const reset = await this.checkMarker(brokerKey, client, brokerPaused);
      return { reset, ...(await this.read(brokerKey, client, members, vhosts)) };
    });
    const { reset: resetDetected, tables, reused, changed } = result;
    if (resetDetected) {
      this.log.warn({ broker: brokerKey }, 'broker was reset or replaced: re-declaring everything');
      for (const { k, resources } of members) for (const r of resources) k.enqueue(keyOf(r));
    }

    const snap = snapshotOf(await client.capabilities(), tables);
    const existing = [...tables].find(([t]) => t.name === 'vhosts')?.[1];
    this.present.set(brokerKey, {
      tables,
      // The vhosts that were read (resources declare objects in them) and exist.
      readable: new Set([...vhosts].filter((v) => existing?.has(key(v)))),
    });
    const sameRows = reused && round?.caps === snap.caps;
    const unchanged = sameResources && sameRows && !resetDetected;
    // Why an idle survey had to work everything out again (its cost depends on it).
    if (round && !unchanged && this.log.isLevelEnabled('debug'))
      this.log.debug(
        {
          broker: brokerKey,
          changedKinds: sameResources
            ? []
            : this.kinds
                .filter((k, i) => lists[i] !== round.lists[i] || statuses[i] !== round.statuses[i])
                .map((k) => k.kind.def.plural),
          changedTables: changed,
          capabilitiesChanged: round.caps !== snap.caps,
        },
        'survey inputs changed',
      );
    const drifted = new Set<string>();
    // Kinds whose every resource was found in sync by a plain answer (from the rows and the
    // resources alone, not a Secret): with nothing changed, the answers would be the same.
    const settled = new Set<SurveyedKind>();
    const ctx = { secrets: this.secrets, lookup: this.refs.lookup };
    for (const { k, resources } of members) {
      if (!k.kind.inSync) continue;
      if (unchanged && round.settled.has(k)) {
        settled.add(k);
        continue;
      }
      let plain = true;
      let inSync = true;
      for (const r of resources) {
        // Paused or resumed (its own or its RabbitBroker's annotation, which is not an event of its
        // own) since its status said so: reconciled, to say so and to write or stop writing.
        const shown = shownPaused(r);
        const paused = brokerPaused || r.metadata.annotations?.[PAUSE_ANNOTATION] === 'true';
        if (paused !== (shown?.status === 'True')) {
          inSync = false;
          k.enqueue(keyOf(r));
          continue;
        }
        // Resources that are not Ready are being retried already, unless their object's runtime
        // state is what keeps them from Ready (a shovel that cannot connect): it may change.
        if (r.status?.observedGeneration !== r.metadata.generation) continue;
        if (!isReady(r) && !k.kind.check) continue;
        // Refused (Stalled): only a change of spec helps, and that reconciles it anyway.
        if (stalled(r)) continue;
        // Awaited only when it is a promise (a user's password check): 10,000 awaits of plain
        // booleans would be 10,000 trips through the microtask queue.
        const checked = k.kind.inSync(r, snap, ctx);
        if (checked instanceof Promise) plain = false;
        // Paused with its drift reported: not repaired, not counted again; reconciled once it is
        // back in line (put back by hand), to say so.
        const reported = paused && shown?.reason === 'Drifted';
        if (checked instanceof Promise ? await checked : checked) {
          if (reported) {
            inSync = false;
            k.enqueue(keyOf(r));
          }
          continue;
        }
        if (reported) continue;
        inSync = false;
        drifted.add(`${k.kind.def.plural}|${keyOf(r)}`);
        k.enqueue(keyOf(r));
      }
      if (plain && inSync) settled.add(k);
    }
    if (round && !sameRows) this.wakeWaiting(brokerKey, members, snap, tables);

    // Back in place: drifted last time, still declared, not drifted now.
    const previous = this.lastDrifted.get(brokerKey) ?? new Set();
    const current = previous.size
      ? new Set(
          members.flatMap(({ k, resources }) => resources.map((r) => `${k.kind.def.plural}|${keyOf(r)}`)),
        )
      : new Set<string>();
    const repaired =
      (this.repaired.get(brokerKey) ?? 0) +
      [...previous].filter((id) => current.has(id) && !drifted.has(id)).length;
    this.repaired.set(brokerKey, repaired);
    this.lastDrifted.set(brokerKey, drifted);
    if (drifted.size) this.log.info({ broker: brokerKey, drifted: [...drifted].slice(0, 20) }, 'drift found');

    const claimed = sameResources ? round.claimed : this.claimed(members);
    const { total, byVhost } = sameResources && sameRows ? round.unmanaged : this.unmanaged(tables, claimed);
    this.lastRound.set(brokerKey, {
      rules,
      paused: brokerPaused,
      lists,
      statuses,
      members,
      vhosts,
      caps: snap.caps,
      settled,
      claimed,
      unmanaged: { total, byVhost },
    });
    this.publishUnmanaged(brokerKey, byVhost, members);

    const cpu = process.cpuUsage(cpu0);
    this.lastOk.set(brokerKey, Date.now());
    return {
      lastSurveyTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      durationMs: Date.now() - started,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      requests,
      managed,
      drifted: drifted.size,
      repaired,
      unmanaged: total,
      resetDetected,
    };
  }

  /**
   * What a resource waits for may be made outside warren (a user by hand, an application's
   * exchange): no declarer then wakes it, and its backoff grows to minutes. A survey whose rows
   * changed queues each resource waiting for objects the broker now has, and only those (a
   * thousand queues waiting for a vhost that does not come send nothing more).
   */
  private wakeWaiting(
    brokerKey: string,
    members: Member[],
    snap: Snapshot,
    tables: ReadonlyMap<Table, unknown>,
  ): void {
    // An object's identity starts with its table's noun (['user', name], ['queue', vhost, name]).
    const byNoun = new Map<string, Table>();
    for (const t of tables.keys()) byNoun.set(t.noun, t);
    for (const { k, resources } of members) {
      for (const r of resources) {
        const ready = findCondition(r.status?.conditions, 'Ready');
        if (ready?.status !== 'False' || ready.reason !== Reasons.WaitingForDependency) continue;
        // Every object it needs that a table shows is there now (a permission: its vhost and user).
        let seen = 0;
        let missing = false;
        for (const dep of this.dependencies(`${k.kind.def.plural}|${keyOf(r)}`)) {
          const [type, broker, noun, ...names] = parts(dep);
          const table = type === 'obj' && broker === brokerKey ? byNoun.get(noun!) : undefined;
          if (!table) continue;
          seen++;
          if (snap.row(table, ...names) === undefined) {
            missing = true;
            break;
          }
        }
        if (seen && !missing) k.enqueue(keyOf(r));
      }
    }
  }

  /**
   * Whether the last survey of this broker read where this row would be and did not find it: a
   * new object can then be written without reading it first. An object inside a vhost counts only
   * if that vhost existed and was read, that is, resources already declared objects in it: a vhost
   * being taken over is read object by object (adoption writes nothing), and a missing vhost is
   * left to the read, which reports it as a dependency to wait for.
   */
  absent(brokerKey: string, table: Table, parts: string[], vhost?: string): boolean {
    const p = this.present.get(brokerKey);
    const rows = p?.tables.get(table);
    if (!p || !rows) return false;
    if (vhost !== undefined && !p.readable.has(vhost)) return false;
    return !rows.has(key(...parts));
  }

  /**
   * A vhost the operator has just created is empty: until the next survey reads it, objects
   * inside it count as absent (the last survey's rows for it, if any, are older and only make
   * the operator read first).
   */
  createdEmpty(brokerKey: string, vhost: string): void {
    this.present.get(brokerKey)?.readable.add(vhost);
  }

  /** Whether the last survey of this broker succeeded: it checks every surveyed resource's object. */
  watching(brokerKey: string): boolean {
    return this.lastOk.has(brokerKey);
  }

  /** What the last survey of this broker found in a vhost that no resource declares. */
  unmanagedIn(brokerKey: string, vhost: string): UnmanagedSummary | undefined {
    return this.unmanagedByVhost.get(brokerKey)?.get(vhost);
  }

  private async read(
    brokerKey: string,
    client: ManagementClient,
    members: Member[],
    vhosts: Set<string>,
  ): Promise<{ tables: Map<Table, Map<string, unknown>>; reused: boolean; changed: string[] }> {
    const declared = new Set(members.filter((m) => m.resources.length).flatMap((m) => m.k.kind.tables ?? []));
    const tables = [...new Set(this.kinds.flatMap((k) => k.kind.tables ?? []))].filter(
      (t) => !t.whenDeclared || declared.has(t),
    );
    const last = this.keyed.get(brokerKey);
    const now = new Map<Table, KeyedTable>();
    const changed: string[] = [];
    const wide = this.wide(brokerKey, vhosts);
    await Promise.all(
      tables.map(async (t) => {
        const only = t.scope === 'vhost' && wide ? vhosts : undefined;
        const scopes = t.scope === 'broker' || only ? [undefined] : [...vhosts];
        const reads = await Promise.all(scopes.map((vhost) => t.read(client, vhost))).catch((err) => {
          // A broker-wide list that fails (too big to serve in the request timeout, say) must not
          // fail every survey after it: per vhost for a while.
          if (only) this.narrowFor.set(brokerKey, WIDE_RETRY_AFTER);
          throw err;
        });
        // The very entries of last time (built once per list the client keeps while the broker
        // answers the same): last time's keyed table serves again. Building and then dropping a
        // map of 10,000 keys per survey was what kept the garbage collector busy.
        const before = last?.get(t);
        if (
          before &&
          before.only === only &&
          sameItems(before.scopes, scopes) &&
          sameItems(before.reads, reads)
        )
          return void now.set(t, before);
        changed.push(t.name);
        const map = new Map<string, unknown>();
        let outside = 0;
        for (const entries of reads)
          for (const [parts, row] of entries) {
            // A broker-wide read keeps the rows of the vhosts the resources declare objects in.
            if (only && !only.has(parts[0]!)) outside++;
            else map.set(key(...parts), row);
          }
        now.set(t, { scopes, reads, only, outside, map });
      }),
    );
    this.keyed.set(brokerKey, now);
    if (wide) {
      const vhostTables = [...now.values()].filter((k) => k.only);
      const outside = vhostTables.reduce((n, k) => n + k.outside, 0);
      const inside = vhostTables.reduce((n, k) => n + k.map.size, 0);
      if (outside > inside) this.narrowFor.set(brokerKey, WIDE_RETRY_AFTER);
    }
    const reused = last?.size === tables.length && !changed.length;
    return { tables: new Map([...now].map(([t, k]) => [t, k.map])), reused, changed };
  }

  /**
   * Whether to read the vhost tables broker-wide: with many vhosts, unless a broker-wide read
   * recently found more rows outside them than in them (a shared broker): then per vhost for a
   * while, and broker-wide again to see whether that changed.
   */
  private wide(brokerKey: string, vhosts: Set<string>): boolean {
    if (vhosts.size < WIDE_FROM_VHOSTS) return false;
    const narrow = this.narrowFor.get(brokerKey) ?? 0;
    if (narrow > 0) this.narrowFor.set(brokerKey, narrow - 1);
    return narrow === 0;
  }

  /** The vhosts the resources declare objects in: the survey reads their tables. */
  private vhostsOf(members: Member[]): Set<string> {
    const vhosts = new Set<string>();
    for (const { k, resources } of members) {
      for (const r of resources) {
        const v = k.kind.holds?.(r) ?? k.kind.vhostOf?.(r, this.refs);
        if (v !== undefined) vhosts.add(v);
      }
    }
    return vhosts;
  }

  /** The rows the resources account for. */
  private claimed(members: Member[]): Set<string> {
    const claimed = new Set<string>();
    for (const { k, resources } of members) {
      for (const r of resources) for (const c of k.kind.claims?.(r, this.refs) ?? []) claimed.add(c);
    }
    return claimed;
  }

  /** Rows no resource claims, in all and per vhost (for vhost-wide tables). */
  private unmanaged(tables: Map<Table, Map<string, unknown>>, claimed: Set<string>): Unmanaged {
    let total = 0;
    const byVhost = new Map<string, UnmanagedSummary>();
    for (const [t, rows] of tables) {
      if (t.settings) continue;
      // A row's claim is key(t.name, ...parts): its own key with the table's name put first.
      const prefix = `[${JSON.stringify(t.name)},`;
      for (const rowKey of rows.keys()) {
        if (claimed.has(rowKey === '[]' ? key(t.name) : prefix + rowKey.slice(1))) continue;
        const parts = JSON.parse(rowKey) as string[];
        total++;
        if (t.scope !== 'vhost') continue;
        const [vhost, ...name] = parts;
        let s = byVhost.get(vhost!);
        if (!s) byVhost.set(vhost!, (s = { count: 0, sample: [] }));
        s.count++;
        if (s.sample.length < SAMPLE) s.sample.push(`${t.noun} ${name.join(' ')}`);
      }
    }
    for (const s of byVhost.values()) s.sample.sort();
    return { total, byVhost };
  }

  /** Keeps the per-vhost summaries and re-queues the vhosts whose summary changed (their status shows it). */
  private publishUnmanaged(brokerKey: string, now: Map<string, UnmanagedSummary>, members: Member[]): void {
    const before = this.unmanagedByVhost.get(brokerKey) ?? new Map<string, UnmanagedSummary>();
    this.unmanagedByVhost.set(brokerKey, now);
    const same = (a?: UnmanagedSummary, b?: UnmanagedSummary) =>
      a?.count === b?.count && a?.sample.join('\n') === b?.sample.join('\n');
    for (const { k, resources } of members) {
      if (!k.kind.holds) continue;
      for (const r of resources) {
        const v = k.kind.holds(r);
        if (!same(before.get(v), now.get(v))) k.enqueue(keyOf(r));
      }
    }
  }

  private async checkMarker(brokerKey: string, client: ManagementClient, paused = false): Promise<boolean> {
    try {
      const found = await client.get<{ value?: string }>(api`/global-parameters/${MARKER}`);
      let value = found?.value;
      const created = !value;
      // A paused broker is not written to: its marker is written (and a reset told) once resumed.
      if (!value && paused) return false;
      if (!value) {
        value = randomUUID();
        await client.put(api`/global-parameters/${MARKER}`, { name: MARKER, value });
      }
      const { reset, remember } = markerVerdict(this.markers.get(brokerKey), value, created);
      this.markers.set(brokerKey, remember);
      return reset;
    } catch (err) {
      // Without the policymaker tag the marker cannot be kept; the survey still finds drift.
      this.log.debug({ broker: brokerKey, err: String(err) }, 'broker marker unavailable');
      return false;
    }
  }

  forget(brokerKey: string): void {
    this.lastDrifted.delete(brokerKey);
    this.markers.delete(brokerKey);
    this.repaired.delete(brokerKey);
    this.unmanagedByVhost.delete(brokerKey);
    this.present.delete(brokerKey);
    this.keyed.delete(brokerKey);
    this.lastRound.delete(brokerKey);
    this.narrowFor.delete(brokerKey);
    this.lastOk.delete(brokerKey);
  }
}

function snapshotOf(caps: Snapshot['caps'], tables: Map<Table, Map<string, unknown>>): Snapshot {
  return {
    caps,
    row: <T>(t: Table<T>, ...parts: string[]) => tables.get(t)?.get(key(...parts)) as T | undefined,
  };
}

/** Each resource's status is, by identity, the one recorded for it. */
const sameStatuses = (l: ReadonlyArray<Resource<any, any>>, statuses: ReadonlyArray<unknown>) =>
  l.length === statuses.length && l.every((r, i) => r.status === statuses[i]);

/** The same items, by identity, in the same order. */
const sameItems = (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

const keyOf = (r: Resource<any, any>) => nsName(r.metadata.namespace, r.metadata.name);
