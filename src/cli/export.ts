// `warren export`: a broker's objects (live or from a definitions file) as manifests, one file per
// kind, with a kustomization.yaml; credentials as Secrets in a directory of their own.
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { API_VERSION, type KindDef } from '../api/common.ts';
import { sameJson } from '../kinds/compare.ts';
import { key } from '../kinds/keys.ts';
import { kindWord } from './kinds/index.ts';
import { assignNames } from './names.ts';
import { select, type Candidate, type LeftOut, type Selection } from './select.ts';
import { describeViolations, validate } from './validate.ts';
import type { CliKind, Exported, Inventory } from './types.ts';

export interface ExportOptions extends Selection {
  /** The RabbitBroker the manifests use. */
  brokerRef: string;
  namespace?: string;
  deletionPolicy: 'Retain' | 'Delete';
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  type?: string;
  stringData?: Record<string, string>;
}

export interface KindExport {
  cli: CliKind;
  /** File name in the export directory, e.g. queues.yaml. */
  file: string;
  manifests: Manifest[];
  /** Its credentials Secrets (also in ExportResult.secrets). */
  secrets: Manifest[];
}

export interface ExportResult {
  kinds: KindExport[];
  /** One Secret per user with a password (its hash), per shovel and upstream (their URIs). */
  secrets: Manifest[];
  left: LeftOut[];
}

const definedOnly = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const isMap = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Keys in order at every level, so a broker's listing and a file give the same text. */
function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (!isMap(v)) return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, sorted(v[k])]),
  );
}

/** Leaves out the fields whose value is the schema's default (the API server fills them in). */
export function pruneDefaults(def: KindDef, spec: Record<string, unknown>): Record<string, unknown> {
  const out = { ...spec };
  for (const field of Object.keys(spec)) {
    if (field === 'brokerRef') continue;
    const { [field]: value, ...without } = out;
    const parsed = def.spec.safeParse(without);
    if (parsed.success && sameJson((parsed.data as Record<string, unknown>)[field], value)) delete out[field];
  }
  return out;
}

const USER_CREDENTIALS = { field: 'credentialsSecretRef', suffix: 'credentials' };

/** The manifest for one exported object. */
function manifest(
  k: CliKind,
  e: Exported,
  name: string,
  opts: ExportOptions,
  nameOf: (identity: string[]) => string | undefined,
): { doc: Manifest; secret?: Manifest } {
  const metadata = { name, ...(opts.namespace ? { namespace: opts.namespace } : {}) };
  const spec: Record<string, unknown> = { brokerRef: { name: opts.brokerRef } };
  if (e.brokerName && e.brokerName.value !== name) spec[e.brokerName.field] = e.brokerName.value;
  // The spec's own fields keep the kind's order; maps inside (arguments, definition) are sorted.
  const fields = { ...definedOnly(e.spec), ...e.references?.(nameOf) };
  for (const [k, v] of Object.entries(fields)) spec[k] = sorted(v);
  let secret: Manifest | undefined;
  if (e.credentials) {
    const ref = e.credentialsRef ?? USER_CREDENTIALS;
    const secretName = `${name}-${ref.suffix}`;
    spec[ref.field] = { name: secretName };
    secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { ...metadata, name: secretName },
      type: 'Opaque',
      stringData: e.credentials,
    };
  }
  spec.deletionPolicy = opts.deletionPolicy;
  const def = k.kind.def;
  return {
    doc: { apiVersion: API_VERSION, kind: def.kind, metadata, spec: pruneDefaults(def, spec) },
    secret,
  };
}

/** Why the API server would refuse the object's manifest, if it would (checked as diff checks it). */
function invalid(k: CliKind, e: Exported): string | undefined {
  const spec: Record<string, unknown> = { brokerRef: { name: 'x' }, ...definedOnly(e.spec) };
  if (e.brokerName) spec[e.brokerName.field] = e.brokerName.value;
  if (e.credentials) spec[(e.credentialsRef ?? USER_CREDENTIALS).field] = { name: 'x' };
  const def = k.kind.def;
  const { violations } = validate(def, {
    apiVersion: API_VERSION,
    kind: def.kind,
    metadata: { name: 'x' },
    spec,
  });
  if (!violations.length) return undefined;
  return `not valid as a ${def.kind} (${describeViolations(violations)})`;
}

/** Objects every vhost has: the default exchange and the amq.* ones. */
const builtIn = (id: string[]) => id[0] === 'exchange' && (id[2] === '' || id[2]!.startsWith('amq.'));

const named = (id: string[]) =>
  id.length === 3 ? `${id[0]} ${q(id[2]!)} in vhost ${q(id[1]!)}` : `${id[0]} ${q(id.at(-1)!)}`;
const q = (s: string) => `'${s}'`;

/** Every object of the inventory as the kinds export it, with what makes some unexportable. */
export function exportCandidates(inv: Inventory, kinds: CliKind[]) {
  // Objects another kind exports on their behalf (e.g. a super stream's partitions) are its.
  const claimedBy = new Map<string, CliKind>();
  for (const k of kinds) for (const id of k.claims?.(inv) ?? []) claimedBy.set(key(...id), k);
  const kindOf = new Map<Candidate, CliKind>();
  const candidates = kinds.flatMap((k) =>
    k.export(inv).map((e) => {
      const owner = claimedBy.get(key(...e.identity));
      const skip =
        e.skip ??
        (owner && owner !== k ? `exported as part of a ${owner.kind.def.kind}` : undefined) ??
        invalid(k, e);
      const c: Candidate = { word: kindWord(k), e: { ...e, skip }, describe: k.describe(e.identity) };
      kindOf.set(c, k);
      return c;
    }),
  );
  // An object that needs one the source does not have at all (a definitions file's binding to a
  // queue it never declares) would wait for it for ever (WaitingForDependency): left out.
  const known = new Set(candidates.map((c) => key(...c.e.identity)));
  for (const c of candidates) {
    const missing = c.e.skip ? undefined : c.e.needs?.find((id) => !builtIn(id) && !known.has(key(...id)));
    if (missing)
      c.e.skip = `needs ${named(missing)}, which the ${inv.source} does not have (warren would wait for it: WaitingForDependency)`;
  }
  return { candidates, kindOf, words: kinds.map((k) => kindWord(k)) };
}

const byName = (a: Manifest, b: Manifest) => (a.metadata.name < b.metadata.name ? -1 : 1);

/** The manifests for an inventory: selection, names, defaults left out, schema-checked. */
export function buildExport(inv: Inventory, kinds: CliKind[], opts: ExportOptions): ExportResult {
  const { candidates, kindOf, words } = exportCandidates(inv, kinds);
  const { kept, left } = select(candidates, opts, words);

  // Every object's name first (unique within its kind): some specs name others (an upstream set its upstreams).
  const names = new Map<string, string>();
  for (const k of kinds) {
    const assigned = assignNames(
      kept
        .filter((c) => kindOf.get(c) === k)
        .map((c) => ({
          id: key(...c.e.identity),
          parts: c.e.nameParts,
          // Told apart by their vhost when their names collide (unless the name holds it already).
          qualifier: c.word !== 'vhost' && !c.e.nameParts.includes(c.e.vhost!) ? c.e.vhost : undefined,
          fallback: c.word,
        })),
    );
    for (const [id, name] of assigned) names.set(id, name);
  }
  const nameOf = (identity: string[]) => names.get(key(...identity));

  const secrets: Manifest[] = [];
  const result: KindExport[] = [];
  for (const k of kinds) {
    const mine = kept.filter((c) => kindOf.get(c) === k);
    if (!mine.length) continue;
    const own: Manifest[] = [];
    const manifests = mine
      .map((c) => {
        const { doc, secret } = manifest(k, c.e, nameOf(c.e.identity)!, opts, nameOf);
        if (secret) own.push(secret);
        return doc;
      })
      .sort(byName);
    own.sort(byName);
    secrets.push(...own);
    const file = `${k.kind.def.plural.replace(/^rabbit/, '')}.yaml`;
    result.push({ cli: k, file, manifests, secrets: own });
  }
  secrets.sort(byName);
  return { kinds: result, secrets, left };
}

// YAML 1.1 output quotes strings such as "yes", "on" or "0x10", which kubectl's YAML 1.1 parser
// would otherwise read as booleans and numbers.
export const toYaml = (docs: unknown[]) =>
  docs.map((d) => stringify(d, { version: '1.1', lineWidth: 0 })).join('---\n');

function kustomization(files: string[], namespace?: string): string {
  return toYaml([
    {
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      ...(namespace ? { namespace } : {}),
      resources: files,
    },
  ]);
}

/** An empty directory to write into; with force, an existing one loses its YAML files first. */
function prepare(dir: string, force: boolean, mode?: number): void {
  if (existsSync(dir)) {
    const entries = readdirSync(dir);
    if (entries.length && !force)
      throw new Error(`${dir} is not empty (--force replaces the YAML files in it)`);
    for (const f of entries) if (/\.ya?ml$/.test(f)) rmSync(join(dir, f));
  }
  mkdirSync(dir, { recursive: true, mode });
  if (mode !== undefined) chmodSync(dir, mode);
}

/** Writes the manifests (and, when credentialsDir is given, the Secrets); returns the files written. */
export function writeExport(
  res: ExportResult,
  dir: string,
  opts: { credentialsDir?: string; force: boolean; namespace?: string },
): string[] {
  const written: string[] = [];
  const write = (path: string, text: string, mode?: number) => {
    writeFileSync(path, text, { mode });
    written.push(path);
  };
  prepare(dir, opts.force);
  for (const k of res.kinds) write(join(dir, k.file), toYaml(k.manifests));
  write(
    join(dir, 'kustomization.yaml'),
    kustomization(
      res.kinds.map((k) => k.file),
      opts.namespace,
    ),
  );
  if (opts.credentialsDir && res.secrets.length) {
    // Readable by the owner only: the hashes are secrets (seal them, or move them to a secret store).
    prepare(opts.credentialsDir, opts.force, 0o700);
    const files = res.secrets.map((s) => `${s.metadata.name}.yaml`);
    res.secrets.forEach((s, i) => write(join(opts.credentialsDir!, files[i]!), toYaml([s]), 0o600));
    write(join(opts.credentialsDir, 'kustomization.yaml'), kustomization(files, opts.namespace), 0o600);
  }
  return written;
}
