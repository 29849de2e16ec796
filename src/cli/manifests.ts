// The resources `warren diff` compares: from files (what `kubectl apply` would send) or from the
// cluster (what warren reconciles now). Files are checked and defaulted as the API server would.
import * as k8s from '@kubernetes/client-node';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, GROUP, VERSION, type Resource } from '../api/common.ts';
import type { CliKind } from './types.ts';
import { describeViolations, validate } from './validate.ts';

export interface Declared {
  cli: CliKind;
  r: Resource<any, any>;
  /** Why the kind's schema refuses the spec (the API server would too). */
  invalid?: string;
}

export interface Loaded {
  resources: Declared[];
  /** Secrets by "<namespace>/<name>"; 'unknown' when one could not be read. */
  secrets: Map<string, k8s.V1Secret | 'unknown'>;
  /** Documents of other kinds, left aside. */
  ignored: number;
}

function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((e) =>
      e.isDirectory()
        ? filesUnder(join(path, e.name))
        : /\.(ya?ml|json)$/.test(e.name)
          ? [join(path, e.name)]
          : [],
    );
}

function documents(file: string): unknown[] {
  const text = readFileSync(file, 'utf8');
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const d of list) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
    const js = d.toJS();
    if (js && js.kind === 'List' && Array.isArray(js.items)) out.push(...js.items);
    else if (js) out.push(js);
  }
  return out;
}

/**
 * A resource as the API server would store it: checked and defaulted by its kind's CRD (schema,
 * unknown fields and CEL rules, src/cli/validate.ts), or invalid with the API server's reasons.
 * Resources read from the cluster were admitted already: only defaulted.
 */
function declared(cli: CliKind, doc: any, namespace: string, admitted = false): Declared {
  const { object, violations } = validate(cli.kind.def, doc);
  const r: Resource<any, any> = {
    apiVersion: doc.apiVersion,
    kind: doc.kind,
    metadata: { uid: '', ...doc.metadata, namespace: doc.metadata?.namespace ?? namespace },
    spec: object.spec ?? {},
    status: doc.status,
  };
  if (admitted || !violations.length) return { cli, r };
  // Unknown fields are refused while decoding (400, kubectl's default Strict field validation),
  // before the schema and the rules are looked at (422 Invalid).
  const status = violations.some((v) => v.status === 400) ? 400 : 422;
  const shown = violations.filter((v) => v.status === status);
  return {
    cli,
    r: { ...r, spec: doc.spec ?? {} },
    invalid: `the API server would refuse it (${status}): ${describeViolations(shown)}`,
  };
}

const b64 = (s: string) => Buffer.from(String(s), 'utf8').toString('base64');

/** Resources and Secrets from files and directories (searched for .yaml, .yml and .json files). */
export function loadFiles(paths: string[], kinds: CliKind[], namespace: string): Loaded {
  const loaded: Loaded = { resources: [], secrets: new Map(), ignored: 0 };
  for (const file of paths.flatMap(filesUnder)) {
    for (const doc of documents(file) as any[]) {
      const cli = kinds.find((k) => doc.apiVersion === API_VERSION && doc.kind === k.kind.def.kind);
      if (cli) {
        if (!doc.metadata?.name) throw new Error(`${file}: a ${doc.kind} without metadata.name`);
        loaded.resources.push(declared(cli, doc, namespace));
      } else if (doc.apiVersion === 'v1' && doc.kind === 'Secret' && doc.metadata?.name) {
        // As the API server stores it: stringData merged into data.
        const data = { ...(doc.data ?? {}) };
        for (const [k, v] of Object.entries(doc.stringData ?? {})) data[k] = b64(v as string);
        const ns = doc.metadata.namespace ?? namespace;
        loaded.secrets.set(`${ns}/${doc.metadata.name}`, { metadata: doc.metadata, data });
      } else loaded.ignored++;
    }
  }
  return loaded;
}

/** warren's resources in a namespace (or all), and the Secrets they read (users, shovels, upstreams). */
export async function loadCluster(
  kc: k8s.KubeConfig,
  kinds: CliKind[],
  namespace: string | undefined,
): Promise<Loaded> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const loaded: Loaded = { resources: [], secrets: new Map(), ignored: 0 };
  for (const cli of kinds) {
    const plural = cli.kind.def.plural;
    const list = (
      namespace
        ? await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural })
        : await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })
    ) as { items: any[] };
    for (const item of list.items) loaded.resources.push(declared(cli, item, item.metadata.namespace, true));
  }
  for (const { cli, r, invalid } of loaded.resources) {
    for (const name of invalid ? [] : (cli.secretNames?.(r) ?? [])) {
      const id = `${r.metadata.namespace}/${name}`;
      if (loaded.secrets.has(id)) continue;
      try {
        loaded.secrets.set(id, await core.readNamespacedSecret({ name, namespace: r.metadata.namespace }));
      } catch (err) {
        // Missing: warren would generate it or wait for it. Not readable: it is not compared.
        if (!(err instanceof k8s.ApiException && err.code === 404)) loaded.secrets.set(id, 'unknown');
      }
    }
  }
  return loaded;
}
