import { z } from 'zod';
import { brokerName, brokerRef, defineKind, deletionPolicy, freeForm, vhostField } from './common.ts';

const args = freeForm();

export const RabbitBinding = defineKind({
  kind: 'RabbitBinding',
  plural: 'rabbitbindings',
  shortName: 'rbinding',
  description:
    'A RabbitMQ binding from an exchange to a queue or an exchange. A changed spec is a new binding: the old one is removed.',
  spec: z.object({
    brokerRef,
    deletionPolicy,
    vhost: vhostField,
    source: brokerName({
      rule: "self != 'amq.default'",
      message: 'the default exchange routes to every queue by its name; bindings to it cannot be declared',
    }).describe('The exchange messages come from.'),
    destination: brokerName().describe('The queue or exchange they go to.'),
    destinationType: z
      .enum(['queue', 'exchange'])
      .default('queue')
      .describe('Whether destination is a queue or an exchange.'),
    routingKey: z.string().max(255).default('').describe('The binding key (a pattern for topic exchanges).'),
    arguments: args
      .optional()
      .describe('Binding arguments, e.g. x-match and header values for headers exchanges.'),
  }),
  status: {
    source: z.string().optional().describe('The source exchange of the binding in effect in the broker.'),
    destination: z.string().optional().describe('Its destination.'),
    destinationType: z.string().optional().describe('queue or exchange.'),
    routingKey: z.string().optional().describe('Its routing key.'),
    arguments: args.optional().describe('Its arguments.'),
  },
  columns: [
    { name: 'Source', type: 'string', jsonPath: '.spec.source' },
    { name: 'Destination', type: 'string', jsonPath: '.spec.destination' },
    { name: 'Routing Key', type: 'string', jsonPath: '.spec.routingKey' },
    { name: 'Vhost', type: 'string', jsonPath: '.spec.vhost', priority: 1 },
  ],
});
export type RabbitBindingSpec = z.output<typeof RabbitBinding.spec>;
