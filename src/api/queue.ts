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

export const RabbitQueue = defineKind({
  kind: 'RabbitQueue',
  plural: 'rabbitqueues',
  shortName: 'rqueue',
  description: 'A RabbitMQ queue.',
  spec: z
    .object({
      brokerRef,
      deletionPolicy,
      name: brokerName({
        rule: "!self.startsWith('amq.')",
        message: "names starting with 'amq.' are reserved by the broker",
      })
        .optional()
        .describe("The queue's name in the broker; defaults to metadata.name."),
      vhost: vhostField,
      type: z
        .enum(['classic', 'quorum', 'stream'])
        .optional()
        .describe("The queue type; absent means the vhost's default."),
      durable: withRules(z.boolean(), immutable('durable'))
        .default(true)
        .describe('Whether the queue survives a broker restart.'),
      autoDelete: withRules(z.boolean(), immutable('autoDelete'))
        .default(false)
        .describe('Whether the broker deletes the queue once its last consumer is gone.'),
      arguments: freeForm()
        .optional()
        .describe('Queue arguments, e.g. x-max-length: 1000. Prefer policies for settings that may change.'),
      deleteIfEmpty: z
        .boolean()
        .optional()
        .describe(
          'Delete in the broker only if no message is waiting in the queue; otherwise the deletion is held (DeleteFailed) and retried. Not for streams, which keep their messages after they are read.',
        ),
      deleteIfUnused: z
        .boolean()
        .optional()
        .describe(
          'Delete in the broker only if the queue has no consumers; otherwise the deletion is held (DeleteFailed) and retried.',
        ),
    })
    .meta({
      'x-kubernetes-validations': [
        immutableOptional('name'),
        immutableOptional('type'),
        immutableOptional('arguments'),
        {
          rule: "!has(self.type) || self.type == 'classic' || (self.durable && !self.autoDelete)",
          message: 'quorum queues and streams must be durable and not autoDelete',
        },
        {
          rule: "!has(self.type) || self.type != 'stream' || !has(self.deleteIfEmpty) || !self.deleteIfEmpty",
          message:
            'a stream keeps its messages after they are read, so it is never empty once written to: deleteIfEmpty would never let it be deleted (use deletionPolicy Retain to keep it)',
        },
      ],
    }),
  status: { name: z.string().optional().describe('The queue name in effect in the broker.') },
  columns: [
    { name: 'Queue', type: 'string', jsonPath: '.status.name' },
    { name: 'Vhost', type: 'string', jsonPath: '.spec.vhost' },
    { name: 'Type', type: 'string', jsonPath: '.spec.type' },
  ],
});
export type RabbitQueueSpec = z.output<typeof RabbitQueue.spec>;
