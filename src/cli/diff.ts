// `warren diff`: what warren would do to a broker for a set of resources, computed through each
// kind's own spec-to-desired and comparison functions, reading the broker only.
import type { Resource } from '../api/common.ts';
import type { Difference } from '../kinds/compare.ts';
import { key } from '../kinds/keys.ts';
import type { Refs } from '../kinds/types.ts';
import { exportCandidates } from './export.ts';
import type { Declared, Loaded } from './manifests.ts';
import { select, type Selection } from './select.ts';
import type { CliKind, Inventory } from './types.ts';

/**
 * What applying a resource would do: create or change the broker object, nothing (unchanged), or
 * nothing that works: another resource owns the object (conflict), the API server would refuse
 * the manifest (invalid), or the broker cannot change the object that way (refused: it must be
 * deleted and re-created).
 */
export type Action = 'create' | 'change' | 'unchanged' | 'conflict' | 'invalid' | 'refused';

export interface DiffRow {
  action: Action;
  kind: string;
  namespace: string;
  name: string;
  /** The broker object, e.g. "queue 'hello' in vhost 'jack_vhost'". */
  object?: string;
  changes: Difference[];
  notes: string[];
}

export interface DiffReport {
  source: string;
  rows: DiffRow[];
  /** Broker objects no resource declares: warren leaves them alone. */
  unmanaged: Array<{ kind: string; object: string }>;
  summary: Record<Action | 'unmanaged', number>;
}

const ACTIONS: Action[] = ['create', 'change', 'refused', 'conflict', 'invalid', 'unchanged'];

function refsOf(resources: Declared[]): Refs {
  const byKey = new Map(
    resources.map(({ r, cli }) => [key(cli.kind.def.plural, r.metadata.namespace, r.metadata.name), r]),
  );
  return { lookup: (plural, ns, name) => byKey.get(key(plural, ns, name)) };
}

/** The vhosts the resources' objects live in. */
export function vhostsOf(loaded: Loaded): Set<string> {
  const refs = refsOf(loaded.resources);
  const out = new Set<string>();
  for (const { cli, r, invalid } of loaded.resources) {
    const v = invalid ? undefined : (cli.kind.holds?.(r) ?? cli.kind.vhostOf?.(r, refs));
    if (v !== undefined) out.add(v);
  }
  return out;
}

/** The older resource owns a broker object two declare (as the operator decides). */
const age = (r: Resource<any, any>) =>
  `${r.metadata.creationTimestamp ?? ''}\u0000${r.metadata.namespace}/${r.metadata.name}`;

export function diff(loaded: Loaded, inv: Inventory, kinds: CliKind[], selection: Selection): DiffReport {
  const refs = refsOf(loaded.resources);
  const ctx = {
    refs,
    secret: (ns: string, name: string) => loaded.secrets.get(`${ns}/${name}`),
  };
  const rows: DiffRow[] = [];
  const owners = new Map<string, Resource<any, any>>();
  const declaredIds = new Set<string>();
  const ordered = [...loaded.resources].sort((a, b) => (age(a.r) < age(b.r) ? -1 : 1));
  for (const { cli, r, invalid } of ordered) {
    const row: DiffRow = {
      action: 'unchanged',
      kind: r.kind,
      namespace: r.metadata.namespace,
      name: r.metadata.name,
      object: undefined,
      changes: [],
      notes: [],
    };
    rows.push(row);
    if (invalid) {
      row.action = 'invalid';
      row.notes.push(invalid);
      continue;
    }
    const identity = cli.kind.identity(r, refs);
    row.object = cli.describe(identity);
    const id = key(...identity);
    declaredIds.add(id);
    const owner = owners.get(id);
    if (owner) {
      row.action = 'conflict';
      row.notes.push(
        `${owner.metadata.namespace}/${owner.metadata.name} declares the same object and owns it (Conflict)`,
      );
      continue;
    }
    owners.set(id, r);
    const plan = cli.plan(r, inv, ctx);
    row.changes = plan.differences;
    row.notes.push(...(plan.notes ?? []));
    row.action = !plan.exists ? 'create' : plan.differences.length ? 'change' : 'unchanged';
    const fixed = new Set<string>(cli.kind.immutableFields ?? []);
    const refused = plan.differences.filter((d) => fixed.has(d.field)).map((d) => d.field);
    if (plan.exists && refused.length) {
      row.action = 'refused';
      row.notes.push(refusal(row.object, refused));
    }
  }
  rows.sort(
    (a, b) =>
      ACTIONS.indexOf(a.action) - ACTIONS.indexOf(b.action) ||
      kinds.findIndex((k) => k.kind.def.kind === a.kind) -
        kinds.findIndex((k) => k.kind.def.kind === b.kind) ||
      `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`),
  );

  // What the export would take from this broker, less what is declared: left alone.
  const { candidates, kindOf, words } = exportCandidates(inv, kinds);
  const unmanaged = select(candidates, selection, words)
    .kept.filter((c) => !declaredIds.has(key(...c.e.identity)))
    .map((c) => ({ kind: kindOf.get(c)!.kind.def.kind, object: c.describe }));

  const summary = Object.fromEntries([...ACTIONS, 'unmanaged'].map((a) => [a, 0])) as DiffReport['summary'];
  for (const r of rows) summary[r.action]++;
  summary.unmanaged = unmanaged.length;
  return { source: inv.source, rows, unmanaged, summary };
}

/**
 * Why a difference cannot be applied, in the words of what happens: the operator declares the
 * object anyway, and the broker refuses what it compares (the management API's 400 "inequivalent
 * arg", AMQP's PRECONDITION_FAILED: Ready=False, Rejected, with the broker's message) and keeps its
 * own value of an argument it does not compare. An edit of such a field in an existing resource is
 * refused by the API server (the field is immutable in the CRD).
 */
const refusal = (object: string, fields: string[]) =>
  `the broker cannot change ${fields.join(', ')} of an existing object (it refuses the declaration: inequivalent arg, warren would report Rejected${fields.includes('arguments') ? '; an argument it does not compare it keeps as it is' : ''}): delete ${object} and let warren declare it again, or declare what the broker has`;

const show = (v: unknown) => (v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v));

/** A table for people. */
export function renderTable(report: DiffReport, maxUnmanaged = 10): string {
  const header = ['ACTION', 'KIND', 'RESOURCE', 'BROKER OBJECT', 'DETAILS'];
  const cells = report.rows.map((r) => [
    r.action,
    r.kind,
    `${r.namespace}/${r.name}`,
    r.object ?? '',
    [...r.changes.map((c) => `${c.field}: ${show(c.broker)} -> ${show(c.spec)}`), ...r.notes].join('; '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = report.rows.length ? [line(header), ...cells.map(line)] : ['no resources to compare'];
  const s = report.summary;
  out.push(
    '',
    `${s.create} to create, ${s.change} to change, ${s.unchanged} unchanged` +
      (s.refused ? `, ${s.refused} refused by the broker` : '') +
      (s.conflict ? `, ${s.conflict} in conflict` : '') +
      (s.invalid ? `, ${s.invalid} invalid` : '') +
      ` (${report.source})`,
  );
  if (report.unmanaged.length) {
    out.push(`${report.unmanaged.length} broker objects no resource declares (warren leaves them alone):`);
    for (const u of report.unmanaged.slice(0, maxUnmanaged)) out.push(`  ${u.object}`);
    if (report.unmanaged.length > maxUnmanaged)
      out.push(`  ... and ${report.unmanaged.length - maxUnmanaged} more (--output json lists them all)`);
  }
  return out.join('\n') + '\n';
}

/** True when applying the resources would write to the broker (or could not be applied). */
export const hasChanges = (r: DiffReport) =>
  r.summary.create + r.summary.change + r.summary.refused + r.summary.conflict + r.summary.invalid > 0;
