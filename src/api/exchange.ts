import { z } from 'zod';
import {
  brokerName,
  brokerRef,
  defineKind,
  deletionPolicy,
  freeForm,
  immutable,
  immutableOptional,
  vhostField,
  withRules,
} from './common.ts';

export const RabbitExchange = defineKind({
  kind: 'RabbitExchange',
  plural: 'rabbitexchanges',
  shortName: 'rexchange',
  description: 'A RabbitMQ exchange.',
  spec: z
    .object({
      brokerRef,
      deletionPolicy,
      name: brokerName({
        rule: "!self.startsWith('amq.')",
        message: "names starting with 'amq.' are reserved by the broker",
      })
        .optional()
        .describe("The exchange's name in the broker; defaults to metadata.name."),
      vhost: vhostField,
      type: withRules(z.string().min(1).max(255), immutable('type'))
        .default('direct')
        .describe(
          'direct, fanout, topic, headers, or a plugin type such as x-delayed-message or x-consistent-hash (its plugin must be enabled).',
        ),
      durable: withRules(z.boolean(), immutable('durable'))
        .default(true)
        .describe('Whether the exchange survives a broker restart.'),
      autoDelete: withRules(z.boolean(), immutable('autoDelete'))
        .default(false)
        .describe('Whether the broker deletes the exchange once its last binding is gone.'),
      internal: withRules(z.boolean(), immutable('internal'))
        .default(false)
        .describe('Only other exchanges can publish to it.'),
      arguments: freeForm()
        .optional()
        .describe('Exchange arguments, e.g. alternate-exchange. The broker cannot change them later.'),
    })
    .meta({ 'x-kubernetes-validations': [immutableOptional('name'), immutableOptional('arguments')] }),
  status: { name: z.string().optional().describe('The exchange name in effect in the broker.') },
  columns: [
    { name: 'Exchange', type: 'string', jsonPath: '.status.name' },
    { name: 'Vhost', type: 'string', jsonPath: '.spec.vhost' },
    { name: 'Type', type: 'string', jsonPath: '.spec.type' },
  ],
});
export type RabbitExchangeSpec = z.output<typeof RabbitExchange.spec>;
