import { z } from 'zod';
import { brokerName, brokerRef, defineKind, deletionPolicy, immutableOptional } from './common.ts';

const limit = z.number().int().min(0);

export const RabbitVhost = defineKind({
  kind: 'RabbitVhost',
  plural: 'rabbitvhosts',
  shortName: 'rvhost',
  description: 'A RabbitMQ virtual host.',
  spec: z
    .object({
      brokerRef,
      deletionPolicy,
      name: brokerName().optional().describe("The vhost's name in the broker; defaults to metadata.name."),
      description: z.string().max(4096).optional().describe("The vhost's description in the broker."),
      tags: z
        .array(z.string().max(255))
        .max(64)
        .optional()
        .describe("The vhost's tags in the broker (free strings)."),
      defaultQueueType: z
        .enum(['classic', 'quorum', 'stream'])
        .optional()
        .describe('The type of queues declared in this vhost without a type (RabbitMQ 3.11 or later).'),
      tracing: z.boolean().optional().describe("Turns the broker's firehose tracing on for this vhost."),
      deleteWithUnmanagedQueues: z
        .boolean()
        .optional()
        .describe(
          'With deletionPolicy Delete: also delete the vhost when it holds queues no resource declares (they are destroyed with it). Without it such a vhost is kept, with a Warning event naming them.',
        ),
      deletionProtection: z
        .boolean()
        .optional()
        .describe(
          'RabbitMQ 4.1 or later. true: the broker refuses to delete the vhost (the UI, rabbitmqctl and the HTTP API all get an error), and deleting this resource with deletionPolicy Delete is held (DeleteFailed) until this is set to false; false: protection is lifted. Absent: left as it is in the broker.',
        ),
      limits: z
        .object({
          maxConnections: limit.optional().describe('Client connections the vhost accepts at most.'),
          maxQueues: limit.optional().describe('Queues the vhost holds at most.'),
        })
        .optional()
        .describe('Absent means no limit.'),
    })
    .meta({ 'x-kubernetes-validations': [immutableOptional('name')] }),
  status: {
    name: z.string().optional().describe('The vhost name in effect in the broker.'),
    unmanagedObjects: z
      .number()
      .int()
      .optional()
      .describe(
        'Objects in this vhost that no resource declares, as of the last survey. Deleting this resource with deletionPolicy Delete deletes them with the vhost.',
      ),
    unmanagedSample: z.array(z.string()).optional().describe('A few of them, e.g. "queue celery".'),
  },
  columns: [
    { name: 'Vhost', type: 'string', jsonPath: '.status.name' },
    { name: 'Unmanaged', type: 'integer', jsonPath: '.status.unmanagedObjects', priority: 1 },
  ],
});
export type RabbitVhostSpec = z.output<typeof RabbitVhost.spec>;
