import { z } from 'zod';
import { defineKind, withRules } from './common.ts';

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
    surveyInterval: withRules(
      z
        .string()
        .max(32)
        .regex(/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/),
      {
        rule: "duration(self) >= duration('5s')",
        message: 'surveyInterval must be at least 5s',
      },
    )
      .default('30s')
      .describe('How often drift is looked for (a duration such as 30s, 5m; at least 5s).'),
    requestTimeout: withRules(
      z
        .string()
        .max(32)
        .regex(/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/),
      {
        rule: "duration(self) >= duration('1s') && duration(self) <= duration('10m')",
        message: 'requestTimeout must be between 1s and 10m',
      },
    )
      .default('30s')
      .describe(
        'How long one management API request may take (vhost creation and deletion get at least 60s). A slow answer is not an outage: only the reachability probe marks the broker down.',
      ),
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
    lastSurveyTime: z
      .string()
      .meta({ format: 'date-time' })
      .optional()
      .describe('When drift was last looked for.'),
    survey: z
      .object({
        lastSurveyTime: z.string().optional(),
        durationMs: z.number().int().optional(),
        requests: z.number().int().optional().describe('Management API requests the survey made.'),
        managed: z.number().int().optional().describe('Resources declaring objects in this broker.'),
        drifted: z.number().int().optional().describe('Objects found missing or changed, queued for repair.'),
        repaired: z
          .number()
          .int()
          .optional()
          .describe('Objects found drifted and since back in place, counted from the operator start.'),
        unmanaged: z
          .number()
          .int()
          .optional()
          .describe('Broker objects no resource declares (reported, never deleted).'),
        resetDetected: z.boolean().optional(),
      })
      .optional()
      .describe('The last drift survey.'),
  },
  columns: [
    { name: 'Endpoint', type: 'string', jsonPath: '.spec.endpoint' },
    { name: 'Version', type: 'string', jsonPath: '.status.rabbitmqVersion' },
    { name: 'Managed', type: 'integer', jsonPath: '.status.survey.managed', priority: 1 },
    { name: 'Drifted', type: 'integer', jsonPath: '.status.survey.drifted', priority: 1 },
    { name: 'Unmanaged', type: 'integer', jsonPath: '.status.survey.unmanaged', priority: 1 },
    { name: 'Last Survey', type: 'date', jsonPath: '.status.lastSurveyTime', priority: 1 },
  ],
});
export type RabbitBrokerSpec = z.output<typeof RabbitBroker.spec>;
