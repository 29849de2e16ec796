// What a kind contributes to the `warren` command: how its broker objects are found in a
// definitions file, how they become manifests, and how a manifest compares with the broker.
import type * as k8s from '@kubernetes/client-node';
import type { Resource } from '../api/common.ts';
import type { Difference } from '../kinds/compare.ts';
import type { Refs, Snapshot, Table, TopologyKind } from '../kinds/types.ts';
import type { Definitions } from './definitions.ts';

/** A broker's objects as rows of the kinds' survey tables, read live or from a definitions file. */
export interface Inventory extends Snapshot {
  /** Where the rows came from, for messages: "broker http://..." or "file defs.json". */
  source: string;
  /** Every row of a table, in a stable order. */
  rows<T>(table: Table<T>): Array<[string[], T]>;
}

/** Adds a row (keyed like the table's live rows) found in a definitions file. */
export type AddRow = <T>(table: Table<T>, parts: string[], row: T) => void;

/** One broker object on its way to becoming a manifest. */
export interface Exported {
  /** The object's identity as the kind page computes it from a resource (`TopologyKind.identity`). */
  identity: string[];
  /** What the Kubernetes name is made from, most telling first (e.g. [user, vhost]). */
  nameParts: string[];
  /** The broker's name and the spec field that keeps it when metadata.name cannot. */
  brokerName?: { field: string; value: string };
  /** The vhost it lives in (a vhost: its own name). */
  vhost?: string;
  /** The names --include and --exclude patterns are matched against. */
  matchNames: string[];
  /** Identities of objects it needs: if the export has one of them but leaves it out, this goes too. */
  needs?: string[][];
  /** The spec without brokerRef, deletionPolicy and the broker name; undefined values are dropped. */
  spec: Record<string, unknown>;
  /** Secret data (string values) holding the credentials, for kinds that have them. */
  credentials?: Record<string, string>;
  /**
   * The spec field naming that Secret and the suffix of its name (`<name>-<suffix>`), when not a
   * user's (credentialsSecretRef, `credentials`). Suffixes differ by kind, so names never collide.
   */
  credentialsRef?: { field: string; suffix: string };
  /**
   * Spec fields that name other exported resources by their Kubernetes names, filled in once every
   * object has its name (the spec holds placeholders meanwhile, for the schema check).
   */
  references?(nameOf: (identity: string[]) => string | undefined): Record<string, unknown>;
  /** Why warren cannot declare it: it is left out with this reason. */
  skip?: string;
}

export interface PlanContext {
  refs: Refs;
  /** A Secret from the manifests or the cluster; 'unknown' when it could not be looked at. */
  secret(namespace: string, name: string): k8s.V1Secret | undefined | 'unknown';
}

/** What a reconcile of one resource would do to the broker. */
export interface Plan {
  exists: boolean;
  differences: Difference[];
  /** What could not be compared, e.g. a password whose Secret was not given. */
  notes?: string[];
}

export interface CliKind<Spec = any> {
  /** The kind's page: its definition, identity and survey tables. */
  kind: TopologyKind<Spec>;
  /** The broker object an identity names, for people: "queue 'q' in vhost 'v'". */
  describe(identity: string[]): string;
  /** Puts the objects of a definitions file into this kind's tables. */
  fromDefinitions(defs: Definitions, add: AddRow): void;
  /** The broker's objects of this kind, defaults left out. */
  export(inv: Inventory): Exported[];
  /** Compares one resource with the broker through the page's spec-to-desired logic. */
  plan(r: Resource<Spec, any>, inv: Inventory, ctx: PlanContext): Plan;
  /**
   * Identities of objects this kind exports on behalf of others (e.g. a super stream's exchange and
   * partitions): the other kinds leave them out.
   */
  claims?(inv: Inventory): string[][];
  /** For the export's summary, of kinds with credentials: what their Secrets hold, and the keys. */
  credentialsHelp?: { noun: string; keys: string };
  /** The Secrets a resource reads (a user's credentials, a shovel's URIs), for `warren diff --cluster`. */
  secretNames?(r: Resource<Spec, any>): string[];
}
