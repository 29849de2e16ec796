import { z } from 'zod';
import {
  brokerName,
  brokerRef,
  defineKind,
  deletionPolicy,
  freeForm,
  immutableOptional,
  vhostField,
  withRules,
} from './common.ts';

export const MAX_PARTITIONS = 100;

export const RabbitSuperStream = defineKind({
  kind: 'RabbitSuperStream',
  plural: 'rabbitsuperstreams',
  shortName: 'rsuperstream',
  description:
    'A RabbitMQ super stream (3.11 or later): a direct exchange routing to N stream partitions <name>-<routing key>, bound with x-stream-partition-order as the stream clients expect. Partitions may be added, never removed.',
  spec: withRules(
    z.object({
      brokerRef,
      deletionPolicy,
      name: brokerName()
        .optional()
        .describe("The super stream's name (its exchange) in the broker; defaults to metadata.name."),
      vhost: vhostField,
      partitions: withRules(z.number().int().min(1).max(MAX_PARTITIONS), {
        rule: 'self >= oldSelf',
        message: 'partitions can be added, never removed',
      })
        .optional()
        .describe('How many partitions, with routing keys 0..n-1; or give routingKeys.'),
      routingKeys: withRules(
        z
          .array(z.string().min(1).max(200))
          .min(1)
          .max(MAX_PARTITIONS)
          .meta({ 'x-kubernetes-list-type': 'set' }),
        {
          rule: 'size(self) >= size(oldSelf) && oldSelf.all(k, self.indexOf(k) == oldSelf.indexOf(k))',
          message: 'routing keys can be appended, never removed or reordered',
        },
      )
        .optional()
        .describe('One routing key per partition, in partition order (partition <name>-<key>).'),
      arguments: freeForm()
        .optional()
        .describe('Arguments of every partition stream, e.g. x-max-length-bytes, x-max-age.'),
    }),
    immutableOptional('name'),
    immutableOptional('arguments'),
    {
      rule: 'has(self.partitions) || has(self.routingKeys)',
      message: 'give partitions (routing keys 0..n-1) or routingKeys',
    },
    {
      rule: '!has(self.partitions) || !has(self.routingKeys) || size(self.routingKeys) == self.partitions',
      message: 'partitions must equal the number of routingKeys',
    },
    {
      rule: 'has(self.routingKeys) == has(oldSelf.routingKeys)',
      message: 'routingKeys cannot be added or removed after creation',
    },
  ),
  status: {
    exchange: z.string().optional().describe('The super stream exchange in the broker.'),
    partitions: z.array(z.string()).optional().describe('The partition streams, in partition order.'),
    partitionCount: z.number().int().optional().describe('How many partitions there are.'),
  },
  columns: [
    { name: 'Super Stream', type: 'string', jsonPath: '.status.exchange' },
    { name: 'Vhost', type: 'string', jsonPath: '.spec.vhost' },
    { name: 'Partitions', type: 'integer', jsonPath: '.status.partitionCount' },
  ],
});
export type RabbitSuperStreamSpec = z.output<typeof RabbitSuperStream.spec>;
