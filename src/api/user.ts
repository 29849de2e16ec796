import { z } from 'zod';
import { brokerName, brokerRef, defineKind, deletionPolicy } from './common.ts';

const limit = z.number().int().min(0);

export const RabbitUser = defineKind({
  kind: 'RabbitUser',
  plural: 'rabbitusers',
  shortName: 'ruser',
  description: 'A RabbitMQ user; its password is generated into a Secret, imported from one, or absent.',
  spec: z
    .object({
      brokerRef,
      deletionPolicy,
      username: brokerName().optional().describe("The user's name in the broker; defaults to metadata.name."),
      tags: z
        .array(
          z
            .string()
            .min(1)
            .max(255)
            .regex(/^[^,\s](?:[^,]*[^,\s])?$/)
            .describe('One tag: no commas (the broker splits on them) and no spaces at either end.'),
        )
        .max(64)
        .optional()
        .describe(
          "Free-form tags, one per item, e.g. management. administrator, policymaker, impersonator and monitoring are privileged: another namespace may set them only where the broker's tenants rule lists them.",
        ),
      credentialsSecretRef: z
        .object({ name: z.string().min(1).max(253).describe("The Secret's name, in this namespace.") })
        .optional()
        .describe('A Secret with key password, or passwordHash (and optionally hashingAlgorithm). Watched.'),
      passwordless: z
        .boolean()
        .optional()
        .describe('No password: the user authenticates by other mechanisms.'),
      limits: z
        .object({
          maxConnections: limit.optional().describe('Connections the user may open at most.'),
          maxChannels: limit.optional().describe('Channels per connection the user may open at most.'),
        })
        .optional()
        .describe('Absent means no limit.'),
    })
    .meta({
      'x-kubernetes-validations': [
        {
          rule: '!(has(self.passwordless) && self.passwordless && has(self.credentialsSecretRef))',
          message: 'passwordless excludes credentialsSecretRef',
        },
      ],
    }),
  status: {
    username: z.string().optional().describe('The broker user name in effect.'),
    credentialsSecretName: z.string().optional().describe('The Secret holding the credentials.'),
  },
  columns: [
    { name: 'Username', type: 'string', jsonPath: '.status.username' },
    { name: 'Tags', type: 'string', jsonPath: '.spec.tags' },
  ],
});
export type RabbitUserSpec = z.output<typeof RabbitUser.spec>;
