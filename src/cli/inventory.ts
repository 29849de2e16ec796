import { key } from '../kinds/keys.ts';
import type { Table } from '../kinds/types.ts';
import { vhostsTable } from '../kinds/vhost.ts';
import { capabilities, type Capabilities, type ManagementClient } from '../rabbitmq/index.ts';
import type { Definitions } from './definitions.ts';
import type { CliKind, Inventory } from './types.ts';

/** Rows by table, keyed as the survey keys them, so the kinds' own lookups work on either source. */
export class MemoryInventory implements Inventory {
  readonly #tables = new Map<string, Map<string, [string[], unknown]>>();
  readonly source: string;
  readonly caps: Capabilities;

  constructor(source: string, caps: Capabilities) {
    this.source = source;
    this.caps = caps;
  }

  add<T>(table: Table<T>, parts: string[], row: T): void {
    let t = this.#tables.get(table.name);
    if (!t) this.#tables.set(table.name, (t = new Map()));
    t.set(key(...parts), [parts, row]);
  }

  row<T>(table: Table<T>, ...parts: string[]): T | undefined {
    return this.#tables.get(table.name)?.get(key(...parts))?.[1] as T | undefined;
  }

  rows<T>(table: Table<T>): Array<[string[], T]> {
    const t = this.#tables.get(table.name);
    if (!t) return [];
    return [...t.keys()].sort().map((k) => t.get(k)! as [string[], T]);
  }
}

// Runtime states (shovel states, federation links) are not topology: not read.
const tablesOf = (kinds: CliKind[]) => [
  ...new Set(kinds.flatMap((k) => k.kind.tables ?? []).filter((t) => !t.whenDeclared)),
];

/**
 * Reads every table the kinds survey, for the whole broker: broker-wide tables once, vhost-wide
 * ones for each vhost `wanted` accepts. Reads only (GET), through the management client.
 */
export async function readBroker(
  client: ManagementClient,
  kinds: CliKind[],
  source: string,
  wanted: (vhost: string) => boolean = () => true,
): Promise<Inventory> {
  const inv = new MemoryInventory(source, await client.capabilities());
  const tables = tablesOf(kinds);
  const load = async (t: Table, vhost?: string) => {
    for (const [parts, row] of await t.read(client, vhost)) inv.add(t, parts, row);
  };
  await Promise.all(tables.filter((t) => t.scope === 'broker').map((t) => load(t)));
  const vhosts = inv.rows(vhostsTable).map(([[name]]) => name!);
  await Promise.all(
    tables.filter((t) => t.scope === 'vhost').flatMap((t) => vhosts.filter(wanted).map((v) => load(t, v))),
  );
  return inv;
}

/** The same tables filled from a definitions file, each kind reading its own sections. */
export function inventoryFromDefinitions(defs: Definitions, kinds: CliKind[], source: string): Inventory {
  const version = defs.rabbitmq_version ?? defs.rabbit_version;
  let caps: Capabilities;
  try {
    caps = capabilities(version ?? '3.10.0');
  } catch {
    caps = capabilities('3.10.0');
  }
  const inv = new MemoryInventory(source, caps);
  for (const k of kinds) k.fromDefinitions(defs, (table, parts, row) => inv.add(table, parts, row));
  return inv;
}
