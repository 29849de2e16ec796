import { z } from 'zod';
import {
  brokerName,
  brokerRef,
  defineKind,
  deletionPolicy,
  immutableOptional,
  uriSecretRef,
  vhostField,
  withRules,
} from './common.ts';

export const RabbitFederation = defineKind({
  kind: 'RabbitFederation',
  plural: 'rabbitfederations',
  shortName: 'rfed',
  description:
    'A RabbitMQ federation upstream: a broker whose exchanges or queues feed this one. A policy with federation-upstream (or federation-upstream-set) turns federation on for the exchanges or queues it matches. Not Ready while one of its links fails.',
  spec: withRules(
    z.object({
      brokerRef,
      deletionPolicy,
      name: brokerName().optional().describe("The upstream's name in the broker; defaults to metadata.name."),
      vhost: vhostField,
      uriSecretRef: uriSecretRef(
        'A Secret in this namespace with key uri: the upstream AMQP URI (several separated by commas are tried in turn). Watched: a changed URI re-declares the upstream.',
      ),
      exchange: z
        .string()
        .min(1)
        .max(255)
        .optional()
        .describe('The upstream exchange; by default the one with the federated exchange’s name.'),
      queue: z
        .string()
        .min(1)
        .max(255)
        .optional()
        .describe('The upstream queue; by default the one with the federated queue’s name.'),
      expires: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe('Milliseconds the upstream keeps its queue for a disconnected link (exchange federation).'),
      messageTTL: z
        .number()
        .int()
        .min(0)
        .optional()
        .describe('Milliseconds messages live in the upstream queue (exchange federation).'),
      maxHops: z.number().int().min(1).optional().describe('How many federation links a message may cross.'),
      prefetchCount: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe('Unacknowledged messages in flight per link.'),
      reconnectDelay: z
        .number()
        .min(0)
        .optional()
        .describe('Seconds to wait before reconnecting a failed link.'),
      trustUserId: z
        .boolean()
        .optional()
        .describe('Keep the user-id of federated messages (validated upstream).'),
      ackMode: z
        .enum(['on-confirm', 'on-publish', 'no-ack'])
        .optional()
        .describe(
          'When a message is acknowledged upstream: once confirmed downstream (default), once published, or never.',
        ),
      queueType: z
        .enum(['classic', 'quorum'])
        .optional()
        .describe('The type of the upstream queue of exchange federation (RabbitMQ 4.2 or later).'),
      resourceCleanupMode: z
        .enum(['default', 'never'])
        .optional()
        .describe(
          'never: a link that stops (its policy removed, the upstream changed) leaves its upstream queue in place, with what it holds, for the next link to consume; default: the queue is deleted.',
        ),
      channelUseMode: z
        .enum(['multiple', 'single'])
        .optional()
        .describe(
          'Whether a link uses separate channels to consume and to publish (multiple, default) or one.',
        ),
      consumerTag: z
        .string()
        .min(1)
        .max(255)
        .optional()
        .describe('The consumer tag of the links on the upstream (queue federation).'),
      bindNowait: z
        .boolean()
        .optional()
        .describe(
          'Exchange federation: declare bindings upstream without waiting for the broker to confirm them.',
        ),
    }),
    immutableOptional('name'),
  ),
  status: {
    name: z.string().optional().describe('The upstream name in effect in the broker.'),
    links: z.number().int().optional().describe('Federation links using this upstream.'),
    runningLinks: z.number().int().optional().describe('Of these, the ones running.'),
  },
  columns: [
    { name: 'Upstream', type: 'string', jsonPath: '.status.name' },
    { name: 'Vhost', type: 'string', jsonPath: '.spec.vhost' },
    { name: 'Links', type: 'integer', jsonPath: '.status.links' },
    { name: 'Running', type: 'integer', jsonPath: '.status.runningLinks' },
  ],
});
export type RabbitFederationSpec = z.output<typeof RabbitFederation.spec>;

export const RabbitFederationUpstreamSet = defineKind({
  kind: 'RabbitFederationUpstreamSet',
  plural: 'rabbitfederationupstreamsets',
  shortName: 'rfedset',
  description:
    'A named set of federation upstreams (RabbitFederation resources): a policy with federation-upstream-set federates from all of them.',
  spec: withRules(
    z.object({
      brokerRef,
      deletionPolicy,
      name: brokerName({
        rule: "self != 'all'",
        message: "'all' is built in: federation-upstream-set: all already means every upstream of the vhost",
      })
        .optional()
        .describe("The set's name in the broker; defaults to metadata.name."),
      vhost: vhostField,
      upstreams: z
        .array(
          z.object({
            name: z
              .string()
              .min(1)
              .max(253)
              .describe('A RabbitFederation in this namespace, on the same broker and vhost.'),
          }),
        )
        .min(1)
        .max(64)
        .describe('The upstreams, by their RabbitFederation resources (at most 64).'),
    }),
    immutableOptional('name'),
  ),
  status: {
    name: z.string().optional().describe('The set name in effect in the broker.'),
    upstreams: z.array(z.string()).optional().describe('The upstream names in the broker, in order.'),
  },
  columns: [
    { name: 'Set', type: 'string', jsonPath: '.status.name' },
    { name: 'Vhost', type: 'string', jsonPath: '.spec.vhost' },
    { name: 'Upstreams', type: 'string', jsonPath: '.status.upstreams' },
  ],
});
export type RabbitFederationUpstreamSetSpec = z.output<typeof RabbitFederationUpstreamSet.spec>;
