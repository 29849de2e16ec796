import type { RabbitFederationSpec, RabbitFederationUpstreamSetSpec } from '../../api/federation.ts';
import * as page from '../../kinds/federation.ts';
import { nsName } from '../../kinds/keys.ts';
import { parametersTable, sameValue } from '../../kinds/parameters.ts';
import { Blocked } from '../../kinds/types.ts';
import type { CliKind } from '../types.ts';
import { q } from './common.ts';
import {
  asMap,
  fieldsOf,
  noUris,
  parameterRows,
  parametersFromDefinitions,
  planUris,
  unknownKeys,
  unknownSettings,
  uriText,
  valueDifferences,
} from './parameters.ts';

const FIELDS: Record<string, string> = page.UPSTREAM_FIELDS;

export const federation: CliKind<RabbitFederationSpec> = {
  kind: page.federationKind,
  describe: ([, vhost, name]) => `federation upstream ${q(name!)} in vhost ${q(vhost!)}`,
  credentialsHelp: { noun: 'federation upstream URIs', keys: 'key uri' },

  fromDefinitions: (defs, add) => parametersFromDefinitions(defs, 'federation-upstream', add),

  export: (inv) =>
    parameterRows(inv, 'federation-upstream').map(({ vhost, name, value }) => {
      const v = asMap(value);
      const uri = uriText(v.uri);
      return {
        identity: ['federation-upstream', vhost, name],
        nameParts: [name],
        brokerName: { field: 'name', value: name },
        vhost,
        matchNames: [name],
        needs: [['vhost', vhost]],
        spec: { vhost, ...fieldsOf(v, FIELDS) },
        credentials: uri ? { uri } : undefined,
        credentialsRef: { field: 'uriSecretRef', suffix: 'upstream-uri' },
        skip:
          unknownSettings('RabbitFederation', unknownKeys(v, ['uri', ...Object.keys(FIELDS)])) ??
          (uri ? undefined : 'has no uri'),
      };
    }),

  secretNames: (r) => [r.spec.uriSecretRef.name],

  plan(r, inv, ctx) {
    const actual = inv.row(parametersTable, 'federation-upstream', r.spec.vhost, page.upstreamName(r));
    if (actual === undefined) return { exists: false, differences: [] };
    const { uris, note } = planUris(r, page.FEDERATION_URI_KEYS, ctx);
    const desired = page.upstreamValue(r, uris ?? noUris(page.FEDERATION_URI_KEYS));
    const differences = valueDifferences(desired, actual, ['uri'], uris && r.spec.uriSecretRef.name);
    return { exists: true, differences, notes: note ? [note] : [] };
  },
};

/** The upstream names of a set's value, if it is a plain list of upstreams (no per-upstream settings). */
function setMembers(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || !value.length) return undefined;
  const names = value.map((e) =>
    e && typeof e === 'object' && Object.keys(e).length === 1 && typeof e.upstream === 'string'
      ? (e.upstream as string)
      : undefined,
  );
  return names.every((n) => n !== undefined) ? (names as string[]) : undefined;
}

export const federationUpstreamSet: CliKind<RabbitFederationUpstreamSetSpec> = {
  kind: page.federationUpstreamSetKind,
  describe: ([, vhost, name]) => `federation upstream set ${q(name!)} in vhost ${q(vhost!)}`,

  fromDefinitions: (defs, add) => parametersFromDefinitions(defs, 'federation-upstream-set', add),

  export: (inv) =>
    parameterRows(inv, 'federation-upstream-set').map(({ vhost, name, value }) => {
      const upstreams = setMembers(value) ?? [];
      const id = (u: string) => ['federation-upstream', vhost, u];
      const missing = upstreams.find((u) => !inv.row(parametersTable, 'federation-upstream', vhost, u));
      return {
        identity: ['federation-upstream-set', vhost, name],
        nameParts: [name],
        brokerName: { field: 'name', value: name },
        vhost,
        matchNames: [name],
        needs: [['vhost', vhost], ...upstreams.map(id)],
        // The upstreams by their resources' names, known once every object has its name.
        spec: { vhost, upstreams: upstreams.map((u) => ({ name: u })) },
        references: (nameOf) => ({ upstreams: upstreams.map((u) => ({ name: nameOf(id(u)) })) }),
        skip:
          name === 'all'
            ? "'all' is built into RabbitMQ (every upstream of the vhost)"
            : !setMembers(value)
              ? 'is not a plain list of upstreams (per-upstream settings are not declared by a RabbitFederationUpstreamSet)'
              : missing !== undefined
                ? `names upstream ${q(missing)}, which the broker does not have`
                : undefined,
      };
    }),

  plan(r, inv, { refs }) {
    const actual = inv.row(parametersTable, 'federation-upstream-set', r.spec.vhost, page.upstreamName(r));
    if (actual === undefined) return { exists: false, differences: [] };
    const ns = r.metadata.namespace;
    let found: string[] | string;
    try {
      // The upstreams' names as their specs give them (the operator waits for them to be declared).
      const brokerKey = nsName(r.spec.brokerRef.namespace ?? ns, r.spec.brokerRef.name);
      found = page.members(r, refs, brokerKey, page.upstreamName);
    } catch (err) {
      if (!(err instanceof Blocked)) throw err;
      found = err.message;
    }
    if (typeof found === 'string')
      return { exists: true, differences: [], notes: [`not compared: ${found}`] };
    const same = sameValue(
      found.map((upstream) => ({ upstream })),
      actual,
    );
    return {
      exists: true,
      differences: same ? [] : [{ field: 'upstreams', broker: setMembers(actual) ?? actual, spec: found }],
    };
  },
};
