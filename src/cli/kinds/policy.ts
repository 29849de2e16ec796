import type { RabbitPolicySpec } from '../../api/policy.ts';
import type { Table, TopologyKind } from '../../kinds/types.ts';
import * as page from '../../kinds/policy.ts';
import type { PolicyInfo, PolicyKind } from '../../rabbitmq/index.ts';
import { parametersOf, type Definitions } from '../definitions.ts';
import type { CliKind } from '../types.ts';
import { q } from './common.ts';

function policyCli(
  kind: TopologyKind<RabbitPolicySpec>,
  table: Table<PolicyInfo>,
  word: PolicyKind,
  noun: string,
  entries: (defs: Definitions) => Array<Record<string, any>>,
  /** The broker's apply-to when an entry has none. */
  applyTo: string,
): CliKind<RabbitPolicySpec> {
  return {
    kind,
    describe: ([, vhost, name]) => `${noun} ${q(name!)} in vhost ${q(vhost!)}`,

    fromDefinitions(defs, add) {
      for (const p of entries(defs)) {
        add(table, [p.vhost, p.name], {
          vhost: p.vhost,
          name: p.name,
          pattern: p.pattern,
          definition: { ...(p.definition ?? {}) },
          priority: p.priority ?? 0,
          'apply-to': p['apply-to'] ?? applyTo,
        });
      }
    },

    export: (inv) =>
      inv.rows(table).map(([, p]) => ({
        identity: [word, p.vhost, p.name],
        nameParts: [p.name],
        brokerName: { field: 'name', value: p.name },
        vhost: p.vhost,
        matchNames: [p.name],
        needs: [['vhost', p.vhost]],
        spec: {
          vhost: p.vhost,
          pattern: p.pattern,
          applyTo: p['apply-to'],
          priority: p.priority,
          definition: p.definition,
        },
      })),

    plan(r, inv) {
      const d = page.fromSpec(r);
      const actual = inv.row(table, d.vhost, d.name);
      if (!actual) return { exists: false, differences: [] };
      return { exists: true, differences: page.differences(d, actual) };
    },
  };
}

export const policy = policyCli(
  page.policyKind,
  page.policiesTable,
  'policy',
  'policy',
  (d) => d.policies ?? [],
  'all',
);

// 3.x and 4.x export operator policies as runtime parameters.
export const operatorPolicy = policyCli(
  page.operatorPolicyKind,
  page.operatorPoliciesTable,
  'operator-policy',
  'operator policy',
  (d) => [
    ...parametersOf(d, 'operator_policy').map((p) => ({ vhost: p.vhost, name: p.name, ...p.value })),
    ...(((d as Record<string, unknown>).operator_policies as Array<Record<string, any>>) ?? []),
  ],
  // Operator policies apply to queues only: one without apply-to is exported as queues.
  'queues',
);
