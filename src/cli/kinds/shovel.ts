import type { RabbitShovelSpec } from '../../api/shovel.ts';
import { parametersTable } from '../../kinds/parameters.ts';
import * as page from '../../kinds/shovel.ts';
import { localVhost } from '../../kinds/uris.ts';
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

// The shovel parameter's keys as RabbitShovel fields (the inverse of the page's shovelValue; a test
// checks that a spec survives the trip). Older shovels' unprefixed keys mean the same; a reconcile
// would rewrite them under their current names, which `warren diff` shows.
const SOURCE: Record<string, string> = {
  'prefetch-count': 'prefetchCount',
  'delete-after': 'deleteAfter',
  'src-queue': 'queue',
  'src-exchange': 'exchange',
  'src-exchange-key': 'routingKey',
  'src-address': 'address',
  'src-prefetch-count': 'prefetchCount',
  'src-delete-after': 'deleteAfter',
  'src-consumer-args': 'consumerArgs',
  'src-queue-args': 'queueArgs',
};
const DESTINATION: Record<string, string> = {
  'add-forward-headers': 'addForwardHeaders',
  'add-timestamp-header': 'addTimestampHeader',
  'publish-properties': 'publishProperties',
  'dest-queue': 'queue',
  'dest-exchange': 'exchange',
  'dest-exchange-key': 'routingKey',
  'dest-address': 'address',
  'dest-add-forward-headers': 'addForwardHeaders',
  'dest-add-timestamp-header': 'addTimestampHeader',
  'dest-publish-properties': 'publishProperties',
  'dest-queue-args': 'queueArgs',
  'dest-application-properties': 'applicationProperties',
  'dest-properties': 'properties',
  'dest-message-annotations': 'messageAnnotations',
};
const TOP: Record<string, string> = { 'ack-mode': 'ackMode', 'reconnect-delay': 'reconnectDelay' };
const URI_KEYS: Record<string, string> = { srcUri: 'src-uri', destUri: 'dest-uri' };
const HANDLED = ['src-protocol', 'dest-protocol', 'src-uri', 'dest-uri'];

const definedOnly = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** amqp091 is the default protocol: left out. */
const protocol = (v: unknown) => (v === undefined || v === 'amqp091' ? undefined : v);

/** A shovel parameter's value as RabbitShovel fields, and the keys none takes. */
export function shovelSpec(value: Record<string, unknown>) {
  return {
    source: definedOnly({ protocol: protocol(value['src-protocol']), ...fieldsOf(value, SOURCE) }),
    destination: definedOnly({ protocol: protocol(value['dest-protocol']), ...fieldsOf(value, DESTINATION) }),
    ...fieldsOf(value, TOP),
    unknown: unknownKeys(value, [
      ...HANDLED,
      ...Object.keys(SOURCE),
      ...Object.keys(DESTINATION),
      ...Object.keys(TOP),
    ]),
  };
}

export const shovel: CliKind<RabbitShovelSpec> = {
  kind: page.shovelKind,
  describe: ([, vhost, name]) => `shovel ${q(name!)} in vhost ${q(vhost!)}`,
  credentialsHelp: { noun: 'shovel URIs', keys: 'keys srcUri and destUri' },

  fromDefinitions: (defs, add) => parametersFromDefinitions(defs, 'shovel', add),

  export: (inv) =>
    parameterRows(inv, 'shovel').map(({ vhost, name, value }) => {
      const v = asMap(value);
      const { source, destination, unknown, ...top } = shovelSpec(v);
      const uris = Object.fromEntries(Object.entries(URI_KEYS).map(([key, k]) => [key, uriText(v[k])]));
      // This broker's vhosts its URIs connect to directly come first; '/' is every broker's.
      const local = Object.values(uris)
        .flatMap((u) => (u ?? '').split(','))
        .map((u) => {
          try {
            return localVhost(u.trim());
          } catch {
            return undefined;
          }
        })
        .filter((vh): vh is string => vh !== undefined && vh !== '/' && vh !== vhost);
      return {
        identity: ['shovel', vhost, name],
        nameParts: [name],
        brokerName: { field: 'name', value: name },
        vhost,
        matchNames: [name],
        needs: [['vhost', vhost], ...[...new Set(local)].map((vh) => ['vhost', vh])],
        spec: { vhost, source, destination, ...top },
        credentials: uris.srcUri && uris.destUri ? { srcUri: uris.srcUri, destUri: uris.destUri } : undefined,
        credentialsRef: { field: 'uriSecretRef', suffix: 'shovel-uris' },
        skip:
          unknownSettings('RabbitShovel', unknown) ??
          (!uris.srcUri || !uris.destUri ? 'has no src-uri or dest-uri' : undefined),
      };
    }),

  secretNames: (r) => [r.spec.uriSecretRef.name],

  plan(r, inv, ctx) {
    const name = page.shovelName(r);
    const actual = inv.row(parametersTable, 'shovel', r.spec.vhost, name);
    if (actual === undefined) return { exists: false, differences: [] };
    const { uris, note } = planUris(r, page.SHOVEL_URI_KEYS, ctx);
    const desired = page.shovelValue(r, uris ?? noUris(page.SHOVEL_URI_KEYS));
    const differences = valueDifferences(
      asMap(page.normalizedShovel(desired)),
      page.normalizedShovel(actual),
      Object.values(URI_KEYS),
      uris && r.spec.uriSecretRef.name,
    );
    return { exists: true, differences, notes: note ? [note] : [] };
  },
};
