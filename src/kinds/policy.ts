import type { KindDef, Resource } from '../api/common.ts';
import { Reasons } from '../api/common.ts';
import { RabbitOperatorPolicy, RabbitPolicy, type RabbitPolicySpec } from '../api/policy.ts';
import type { PolicyBody, PolicyInfo, PolicyKind } from '../rabbitmq/index.ts';
import { differing, sameAsLastTime, sameJson, type Difference } from './compare.ts';
import { ManagementError } from '../rabbitmq/index.ts';
import { Blocked, claim, depKeys, type Table, type TopologyKind, entries } from './types.ts';

export interface Desired extends PolicyBody {
  vhost: string;
  name: string;
}

const QUEUE_TYPE_TARGETS = new Set(['classic_queues', 'quorum_queues', 'streams']);

export const policyName = (r: Resource<RabbitPolicySpec>) => r.spec.name ?? r.metadata.name;

export const fromSpec = (r: Resource<RabbitPolicySpec>): Desired => ({
  vhost: r.spec.vhost,
  name: policyName(r),
  pattern: r.spec.pattern,
  definition: r.spec.definition,
  priority: r.spec.priority,
  'apply-to': r.spec.applyTo,
});

// Numbers and booleans compare as the broker returns them (JSON values, key order aside).
export const differences = (d: Desired, a: PolicyInfo): Difference[] =>
  differing([
    ['pattern', a.pattern, d.pattern, a.pattern === d.pattern],
    ['priority', a.priority, d.priority, a.priority === d.priority],
    ['applyTo', a['apply-to'], d['apply-to'], a['apply-to'] === d['apply-to']],
    ['definition', a.definition, d.definition, sameJson(a.definition, d.definition)],
  ]);

const matches = (d: Desired, a: PolicyInfo) => !differences(d, a).length;

function policyTable(kind: PolicyKind, noun: string): Table<PolicyInfo> {
  const table: Table<PolicyInfo> = {
    name: kind === 'policy' ? 'policies' : 'operatorPolicies',
    noun,
    scope: 'broker',
    read: async (client) => entries(table, await client.listPolicies(kind), (p) => [[p.vhost, p.name], p]),
  };
  return table;
}

export const policiesTable = policyTable('policy', 'policy');
export const operatorPoliciesTable = policyTable('operator-policy', 'operator policy');

/** A policy kind: user policies and operator policies differ only in endpoint and allowed keys. */
function makePolicyKind(
  def: KindDef,
  kind: PolicyKind,
  table: Table<PolicyInfo>,
): TopologyKind<RabbitPolicySpec, Desired> {
  return {
    def,
    identity: (r) => [kind, r.spec.vhost, policyName(r)],
    vhostOf: (r) => r.spec.vhost,
    ...(kind === 'operator-policy' && { touches: () => ({ operatorPolicy: true }) }),

    desired(r, ctx) {
      ctx.dependOn(depKeys.object(ctx.brokerKey, ['vhost', r.spec.vhost]));
      return fromSpec(r);
    },

    async apply(d, _r, { client, knownAbsent }) {
      const caps = await client.capabilities();
      if (QUEUE_TYPE_TARGETS.has(d['apply-to']) && !caps.policyApplyToQueueTypes) {
        throw new Blocked(
          Reasons.Rejected,
          `applyTo '${d['apply-to']}' needs RabbitMQ 3.12 or later; this broker runs ${caps.version.major}.${caps.version.minor}.${caps.version.patch}: use queues, exchanges or all`,
        );
      }
      try {
        const actual = knownAbsent(table, d.vhost, d.name)
          ? undefined
          : await client.getPolicy(kind, d.vhost, d.name);
        if (actual && matches(d, actual)) return 'unchanged';
        await client.putPolicy(kind, d.vhost, d.name, d);
        return actual ? 'updated' : 'created';
      } catch (err) {
        // RabbitMQ 4.0 answers for operator policies in a missing vhost with a 500: say what it is.
        if (
          err instanceof ManagementError &&
          err.category === 'ServerError' &&
          !(await client.getVhost(d.vhost))
        ) {
          throw new ManagementError({
            method: err.method,
            path: err.path,
            status: 404,
            reason: `vhost '${d.vhost}' does not exist in the broker`,
            category: 'NotFound',
          });
        }
        throw err;
      }
    },

    async remove(r, { client }) {
      await client.deletePolicy(kind, r.spec.vhost, policyName(r));
    },

    tables: [table],
    claims: (r) => [claim(table, r.spec.vhost, policyName(r))],

    inSync(r, snap) {
      const actual = snap.row(table, r.spec.vhost, policyName(r));
      return !!actual && sameAsLastTime(r, [actual], () => matches(fromSpec(r), actual));
    },

    status: (d) => ({ name: d.name }),
  };
}

export const policyKind = makePolicyKind(RabbitPolicy, 'policy', policiesTable);
export const operatorPolicyKind = makePolicyKind(
  RabbitOperatorPolicy,
  'operator-policy',
  operatorPoliciesTable,
);
