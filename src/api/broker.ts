import { z } from 'zod';
import { defineKind } from './common.ts';

export const RabbitBroker = defineKind({
  kind: 'RabbitBroker',
  plural: 'rabbitbrokers',
  shortName: 'rbroker',
  description: 'A connection to one RabbitMQ cluster through its management API.',
  spec: z.object({
    endpoint: z
      .string()
      .regex(/^https?:\/\/[^\s/]+(\/.*)?$/)
      .describe('Management API base URL, e.g. http://rabbitmq.rabbitmq.svc:15672'),
    credentialsSecretRef: z
      .object({ name: z.string().min(1) })
      .describe('A Secret with keys username and password (an administrator).'),
    allowedNamespaces: z
      .array(z.string().min(1))
      .optional()
      .describe("Namespaces whose resources may use this broker besides its own; '*' for all."),
    surveyInterval: z
      .string()
      .regex(/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/)
      .default('30s')
      .describe('How often drift is looked for (a duration such as 30s, 5m).'),
    maxConcurrentRequests: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(8)
      .describe('Requests in flight to this broker.'),
  }),
  status: {
    rabbitmqVersion: z.string().optional(),
    clusterName: z.string().optional(),
  },
  columns: [
    { name: 'Endpoint', type: 'string', jsonPath: '.spec.endpoint' },
    { name: 'Version', type: 'string', jsonPath: '.status.rabbitmqVersion' },
  ],
});
export type RabbitBrokerSpec = z.output<typeof RabbitBroker.spec>;
