import { z } from 'zod';
import { brokerName, brokerRef, defineKind, deletionPolicy, immutableOptional, regexText } from './common.ts';

const ref = z.object({ name: z.string().min(1).max(253).describe("The resource's metadata.name.") });

// Shared by RabbitPermission and RabbitTopicPermission: who (user or userRef) and where (vhost or vhostRef).
const subject = {
  brokerRef,
  deletionPolicy,
  vhost: brokerName().optional().describe("The broker vhost; '/' when neither vhost nor vhostRef is set."),
  vhostRef: ref.optional().describe('A RabbitVhost in this namespace.'),
  user: brokerName().optional().describe('The broker user name.'),
  userRef: ref.optional().describe('A RabbitUser in this namespace.'),
};
const subjectRules = [
  { rule: 'has(self.user) != has(self.userRef)', message: 'exactly one of user and userRef is required' },
  { rule: '!(has(self.vhost) && has(self.vhostRef))', message: 'vhost and vhostRef exclude each other' },
  immutableOptional('vhost'),
  immutableOptional('vhostRef'),
  immutableOptional('user'),
  immutableOptional('userRef'),
];
const regex = regexText().describe(
  'A regular expression (at most 4096 characters); the empty string grants nothing.',
);

const userVhostColumns = [
  { name: 'User', type: 'string' as const, jsonPath: '.status.user' },
  { name: 'Vhost', type: 'string' as const, jsonPath: '.status.vhost' },
];
const resolvedStatus = {
  user: z.string().optional().describe('The broker user the permission was applied to.'),
  vhost: z.string().optional().describe('The broker vhost the permission was applied to.'),
};

export const RabbitPermission = defineKind({
  kind: 'RabbitPermission',
  plural: 'rabbitpermissions',
  shortName: 'rperm',
  description: "A user's configure/write/read permissions on a vhost.",
  spec: z
    .object({
      ...subject,
      configure: regex,
      write: regex,
      read: regex,
      connectionSecret: z
        .object({ name: z.string().min(1).max(253).describe("The Secret's name, in this namespace.") })
        .optional()
        .describe(
          "A Secret warren writes for applications: uri (amqp://user:password@host:port/vhost, URL-encoded), host, port, vhost, username and password, kept in step with the user's password. Needs userRef (warren knows the password of a RabbitUser only); the host and port come from the RabbitBroker's spec.amqp.",
        ),
    })
    .meta({
      'x-kubernetes-validations': [
        ...subjectRules,
        {
          rule: '!has(self.connectionSecret) || has(self.userRef)',
          message: 'connectionSecret needs userRef',
        },
      ],
    }),
  status: {
    ...resolvedStatus,
    connectionSecretName: z
      .string()
      .optional()
      .describe('The connection Secret warren keeps for applications (spec.connectionSecret).'),
  },
  columns: userVhostColumns,
});
export type RabbitPermissionSpec = z.output<typeof RabbitPermission.spec>;

export const RabbitTopicPermission = defineKind({
  kind: 'RabbitTopicPermission',
  plural: 'rabbittopicpermissions',
  shortName: 'rtperm',
  description: "A user's write/read permissions on the routing keys of one topic exchange in a vhost.",
  spec: z
    .object({
      ...subject,
      exchange: z.string().min(1).max(253).describe('The topic exchange, e.g. amq.topic.'),
      write: regex,
      read: regex,
    })
    .meta({ 'x-kubernetes-validations': [...subjectRules, immutableOptional('exchange')] }),
  status: resolvedStatus,
  columns: [...userVhostColumns, { name: 'Exchange', type: 'string', jsonPath: '.spec.exchange' }],
});
export type RabbitTopicPermissionSpec = z.output<typeof RabbitTopicPermission.spec>;
