import { z } from 'zod';

// Turns a zod schema into a Kubernetes structural schema: every node typed, no $ref, no
// additionalProperties:false, open maps preserved. Throws on shapes a CRD cannot hold.
export function toStructural(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) as Record<string, unknown>;
  return clean(json, '') as Record<string, unknown>;
}

const SAFE_INT = 9007199254740991;

function clean(node: unknown, path: string): unknown {
  if (Array.isArray(node)) return node.map((n, i) => clean(n, `${path}[${i}]`));
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' || key === '$defs' || key === 'definitions' || key === '$schema' || key === 'id') {
      if (key === '$schema') continue;
      throw new Error(`${path}: ${key} is not allowed in a CRD schema`);
    }
    if (key === 'uniqueItems') throw new Error(`${path}: uniqueItems is not allowed in a CRD schema`);
    if ((key === 'maximum' && value === SAFE_INT) || (key === 'minimum' && value === -SAFE_INT)) continue;
    if (key === 'additionalProperties') {
      if (value === false)
        throw new Error(`${path}: additionalProperties:false is not allowed in a CRD schema`);
      if (value && typeof value === 'object' && Object.keys(value).length === 0) {
        // An open map of arbitrary JSON values.
        out['x-kubernetes-preserve-unknown-fields'] = true;
        continue;
      }
    }
    if (key === 'default' && value && typeof value === 'object' && Object.keys(value).length === 0) {
      out[key] = value;
      continue;
    }
    out[key] = clean(value, `${path}.${key}`);
  }
  if (out['x-kubernetes-preserve-unknown-fields'] && !out.type) out.type = 'object';
  sayBounds(out);
  // An int-or-string node carries no type; its branches become a CEL rule of the schema's own.
  if (out['x-kubernetes-int-or-string']) delete out.anyOf;
  // A value of any JSON type (z.unknown()) has no type: mark it free-form.
  if (
    !out.type &&
    !out.anyOf &&
    !out.oneOf &&
    !out.allOf &&
    Object.keys(out).every((k) => k === 'description')
  ) {
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  return out;
}

// kubectl explain shows a field's description, not its bounds: the description says them.
function sayBounds(node: Record<string, unknown>): void {
  const d = typeof node.description === 'string' ? node.description : undefined;
  if (d === undefined || /\bat most\b/.test(d)) return;
  const bound =
    node.type === 'string' && typeof node.maxLength === 'number' && !node.enum
      ? `${node.maxLength} characters`
      : node.type === 'array' && typeof node.maxItems === 'number'
        ? `${node.maxItems} items`
        : node.type === 'object' && typeof node.maxProperties === 'number'
          ? `${node.maxProperties} keys`
          : undefined;
  if (bound) node.description = `${d.replace(/\.$/, '')} (at most ${bound}).`;
}
