import { z } from 'zod';
import {
  brokerName,
  brokerRef,
  defineKind,
  deletionPolicy,
  freeForm,
  immutableOptional,
  MAX_MAP_KEYS,
  regexText,
  vhostField,
} from './common.ts';

// RabbitPolicy and RabbitOperatorPolicy differ in what they may apply to and in who wins: an
// operator policy caps what user policies set.
function policy(applyTo: readonly [string, ...string[]], applyToDefault: string, what: string) {
  return z
    .object({
      brokerRef,
      deletionPolicy,
      name: brokerName().optional().describe("The policy's name in the broker; defaults to metadata.name."),
      vhost: vhostField,
      pattern: regexText().describe(
        'A regular expression matched against queue and exchange names (at most 4096 characters).',
      ),
      applyTo: z
        .enum(applyTo)
        .default(applyToDefault)
        .describe('classic_queues, quorum_queues and streams need RabbitMQ 3.12 or later.'),
      priority: z.number().int().default(0).describe('The highest priority among matching policies wins.'),
      definition: freeForm()
        .meta({ minProperties: 1, maxProperties: MAX_MAP_KEYS })
        .describe(`The ${what} keys and values, e.g. max-length: 1000.`),
    })
    .meta({ 'x-kubernetes-validations': [immutableOptional('name')] });
}

const columns = [
  { name: 'Policy', type: 'string' as const, jsonPath: '.status.name' },
  { name: 'Vhost', type: 'string' as const, jsonPath: '.spec.vhost' },
  { name: 'Pattern', type: 'string' as const, jsonPath: '.spec.pattern' },
  { name: 'Apply To', type: 'string' as const, jsonPath: '.spec.applyTo', priority: 1 },
  { name: 'Priority', type: 'integer' as const, jsonPath: '.spec.priority', priority: 1 },
];

export const RabbitPolicy = defineKind({
  kind: 'RabbitPolicy',
  plural: 'rabbitpolicies',
  shortName: 'rpolicy',
  description: 'A RabbitMQ policy: settings applied to the queues or exchanges whose names match a pattern.',
  spec: policy(['queues', 'exchanges', 'all', 'classic_queues', 'quorum_queues', 'streams'], 'all', 'policy'),
  status: { name: z.string().optional().describe('The policy name in effect in the broker.') },
  columns,
});
export type RabbitPolicySpec = z.output<typeof RabbitPolicy.spec>;

export const RabbitOperatorPolicy = defineKind({
  kind: 'RabbitOperatorPolicy',
  plural: 'rabbitoperatorpolicies',
  shortName: 'ropolicy',
  description:
    'A RabbitMQ operator policy: limits that cap what user policies set, on the queues whose names match a pattern.',
  spec: policy(['queues', 'classic_queues', 'quorum_queues', 'streams'], 'queues', 'operator policy'),
  status: { name: z.string().optional().describe('The operator policy name in effect in the broker.') },
  columns,
});
export type RabbitOperatorPolicySpec = z.output<typeof RabbitOperatorPolicy.spec>;
