// What the API server would say to a manifest, offline: the kind's CustomResourceDefinition (the one
// `npm run gen:crds` writes to crds/, built here from the same source) applied as the API server
// applies it on create: unknown fields refused (kubectl's default field validation is Strict since
// 1.27: 400 "strict decoding error: unknown field"), defaults filled in, then the OpenAPI schema
// (types, bounds, enums, patterns, list types) and the x-kubernetes-validations CEL rules (422
// Invalid). Transition rules (those that read oldSelf) apply to updates only, as on the server.
import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isDeepStrictEqual } from 'node:util';
import { toCRD } from '../api/crd.ts';
import type { KindDef } from '../api/common.ts';

type Schema = Record<string, any>;

export interface Violation {
  /** Where, as the API server writes it: spec.durabel, spec.arguments, metadata.name. */
  field: string;
  message: string;
  /** The API server's answer: 400 for an unknown field (strict decoding), 422 for the rest (Invalid). */
  status: 400 | 422;
}

/** The openAPIV3Schema of the kind's served version, as its generated CRD holds it. */
export function crdSchema(def: KindDef): Schema {
  const crd = toCRD(def) as Schema;
  return crd.spec.versions[0].schema.openAPIV3Schema;
}

const mentionsOldSelf = (rule: string) => /\boldSelf\b/.test(rule);

// ---- CEL ------------------------------------------------------------------------------------

const celEnv = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });
// Kubernetes' list library (k8s.io/apiserver/pkg/cel/library/lists.go): indexOf, lastIndexOf.
for (const [name, find] of [
  ['indexOf', (l: unknown[], v: unknown) => l.findIndex((x) => isDeepStrictEqual(x, v))],
  ['lastIndexOf', (l: unknown[], v: unknown) => l.findLastIndex((x) => isDeepStrictEqual(x, v))],
] as const) {
  celEnv.registerFunction({
    name,
    receiverType: 'list',
    returnType: 'int',
    params: [{ name: 'value', type: 'dyn' }],
    handler: (l: unknown[], v: unknown) => BigInt(find(l, v)),
  });
}

const compiled = new Map<string, ParseResult>();

/** A rule, parsed once; throws when the evaluator cannot parse it. */
export function compileRule(rule: string): ParseResult {
  let p = compiled.get(rule);
  if (!p) compiled.set(rule, (p = celEnv.parse(rule)));
  return p;
}

/**
 * A JSON value as the API server hands it to CEL: integers of `type: integer` (and of int-or-string
 * or schemaless nodes) as int, other numbers as double, objects as maps, lists as lists.
 */
export function celValue(schema: Schema | undefined, v: unknown): unknown {
  if (typeof v === 'number') {
    const t = schema?.type;
    if (t === 'number') return v;
    return Number.isInteger(v) ? BigInt(v) : v;
  }
  if (Array.isArray(v)) return v.map((x) => celValue(schema?.items, x));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = celValue(schema?.properties?.[k] ?? schemaOf(schema?.additionalProperties), x);
    }
    return out;
  }
  return v;
}

const schemaOf = (a: unknown) => (a && typeof a === 'object' ? (a as Schema) : undefined);

/** Evaluates one rule against a value (and, for a transition rule, the old value). */
export function evaluateRule(rule: string, schema: Schema, self: unknown, oldSelf?: unknown): boolean {
  const ctx: Record<string, unknown> = { self: celValue(schema, self) };
  if (oldSelf !== undefined) ctx.oldSelf = celValue(schema, oldSelf);
  return compileRule(rule)(ctx) === true;
}

/** Every rule of a schema, with the schema node it sits on and where: for tests and checks. */
export function rulesOf(
  schema: Schema,
  path = '',
): Array<{ path: string; node: Schema; rule: string; message: string }> {
  const out: Array<{ path: string; node: Schema; rule: string; message: string }> = [];
  for (const r of (schema['x-kubernetes-validations'] as Array<{ rule: string; message: string }>) ?? [])
    out.push({ path: path || '<root>', node: schema, rule: r.rule, message: r.message });
  for (const [k, s] of Object.entries((schema.properties as Record<string, Schema>) ?? {}))
    out.push(...rulesOf(s, path ? `${path}.${k}` : k));
  if (schemaOf(schema.additionalProperties)) out.push(...rulesOf(schema.additionalProperties, `${path}[*]`));
  if (schema.items) out.push(...rulesOf(schema.items, `${path}[*]`));
  return out;
}

// ---- the walk: unknown fields, defaults, list types, CEL -------------------------------------

const isMap = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Fills in the schema's defaults (as the API server does before validating) and reports unknown fields. */
function defaultAndPrune(schema: Schema, v: unknown, field: string, out: Violation[]): unknown {
  if (isMap(v) && (schema.type === 'object' || schema.properties)) {
    const props = (schema.properties as Record<string, Schema>) ?? {};
    const extra = schemaOf(schema.additionalProperties);
    const keepsUnknown = schema['x-kubernetes-preserve-unknown-fields'] === true;
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const sub = props[k] ?? extra;
      const at = field ? `${field}.${k}` : k;
      if (sub) o[k] = defaultAndPrune(sub, x, at, out);
      else if (keepsUnknown || schema.additionalProperties === true) o[k] = x;
      else out.push({ field: at, message: `unknown field "${at}"`, status: 400 });
    }
    for (const [k, s] of Object.entries(props))
      if (o[k] === undefined && s.default !== undefined) o[k] = structuredClone(s.default);
    return o;
  }
  if (Array.isArray(v) && schema.items)
    return v.map((x, i) => defaultAndPrune(schema.items, x, `${field}[${i}]`, out));
  return v;
}

function checkRules(schema: Schema, v: unknown, field: string, out: Violation[]): void {
  if (v === undefined || v === null) return;
  const at = field || '<root>';
  if (Array.isArray(v)) {
    const type = schema['x-kubernetes-list-type'];
    const keys = schema['x-kubernetes-list-map-keys'] as string[] | undefined;
    const ids = v.map((x) => (type === 'map' && keys && isMap(x) ? keys.map((k) => x[k]) : x));
    if (type === 'set' || type === 'map') {
      ids.forEach((id, i) => {
        if (ids.findIndex((o) => isDeepStrictEqual(o, id)) < i)
          out.push({
            field: `${field}[${i}]`,
            message: `Duplicate value: ${JSON.stringify(id)}`,
            status: 422,
          });
      });
    }
  }
  for (const r of (schema['x-kubernetes-validations'] as Array<{ rule: string; message: string }>) ?? []) {
    if (mentionsOldSelf(r.rule)) continue;
    let ok: boolean;
    try {
      ok = evaluateRule(r.rule, schema, v);
    } catch (err) {
      out.push({
        field: at,
        message: `rule not evaluated (${(err as Error).message.split('\n')[0]})`,
        status: 422,
      });
      continue;
    }
    if (!ok) out.push({ field: at, message: `Invalid value: ${r.message}`, status: 422 });
  }
  if (isMap(v)) {
    const props = (schema.properties as Record<string, Schema>) ?? {};
    const extra = schemaOf(schema.additionalProperties);
    for (const [k, x] of Object.entries(v)) {
      const sub = props[k] ?? extra;
      if (sub) checkRules(sub, x, field ? `${field}.${k}` : k, out);
    }
  } else if (Array.isArray(v) && schema.items) {
    v.forEach((x, i) => checkRules(schema.items, x, `${field}[${i}]`, out));
  }
}

// ---- the OpenAPI schema, through ajv ----------------------------------------------------------

/** The structural schema as JSON Schema: int-or-string made explicit, set lists unique. */
function toJsonSchema(s: Schema): Schema {
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties')
      out.properties = Object.fromEntries(Object.entries(v).map(([p, x]) => [p, toJsonSchema(x as Schema)]));
    else if (k === 'items' || (k === 'additionalProperties' && schemaOf(v))) out[k] = toJsonSchema(v);
    else if (k === 'default' || k === 'description' || k.startsWith('x-kubernetes-')) continue;
    else out[k] = v;
  }
  if (s['x-kubernetes-int-or-string']) out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, unicodeRegExp: true });
const validators = new WeakMap<KindDef, { schema: Schema; validate: ValidateFunction }>();

function compiledFor(def: KindDef) {
  let v = validators.get(def);
  if (!v) {
    const schema = crdSchema(def);
    v = { schema, validate: ajv.compile(toJsonSchema(schema)) };
    validators.set(def, v);
  }
  return v;
}

function fieldOf(e: ErrorObject): string {
  const base = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
  if (e.keyword === 'required')
    return base ? `${base}.${e.params.missingProperty}` : e.params.missingProperty;
  return base || '<root>';
}

function messageOf(e: ErrorObject): string {
  switch (e.keyword) {
    case 'required':
      return 'Required value';
    case 'enum':
      return `Unsupported value: supported values: ${(e.params.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}`;
    case 'type':
      return `Invalid value: must be of type ${e.params.type}`;
    default:
      return `Invalid value: ${e.message}`;
  }
}

// metadata.name of a custom resource: a DNS subdomain (RFC 1123), at most 253 characters.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Why the API server would refuse to create this object of the kind, if it would, and the object
 * as it would store it (defaults filled in). `doc` is the manifest as kubectl sends it.
 */
export function validate(
  def: KindDef,
  doc: unknown,
): { object: Record<string, any>; violations: Violation[] } {
  const { schema, validate: check } = compiledFor(def);
  const violations: Violation[] = [];
  const name = isMap(doc) && isMap(doc.metadata) ? doc.metadata.name : undefined;
  if (typeof name !== 'string' || !name)
    violations.push({ field: 'metadata.name', message: 'Required value: name is required', status: 422 });
  else if (name.length > 253 || !DNS_SUBDOMAIN.test(name))
    violations.push({
      field: 'metadata.name',
      message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      status: 422,
    });
  // The metadata is the API server's own business, and a status is dropped on create (a subresource).
  const { metadata, status: _status, ...rest } = isMap(doc) ? doc : {};
  const pruned = defaultAndPrune(schema, rest, '', violations) as Record<string, any>;
  const object = { ...pruned, metadata };
  const body = { ...pruned, metadata: {} };
  if (!check(body)) {
    const seen = new Set<string>();
    for (const e of check.errors ?? []) {
      // int-or-string's anyOf reports each branch: one line is enough.
      if (e.keyword === 'anyOf') continue;
      const v: Violation = { field: fieldOf(e), message: messageOf(e), status: 422 };
      const k = `${v.field}\u0000${v.message}`;
      if (seen.has(k)) continue;
      seen.add(k);
      violations.push(v);
    }
  } else {
    checkRules(schema, body, '', violations);
  }
  return { object, violations };
}

/** The violations in one line, as diff shows them. */
export const describeViolations = (vs: Violation[]) =>
  vs.map((v) => (v.message.startsWith('unknown field') ? v.message : `${v.field}: ${v.message}`)).join('; ');
