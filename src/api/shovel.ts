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
  freeForm,
} from './common.ts';

const args = freeForm();
const protocol = z
  .enum(['amqp091', 'amqp10'])
  .default('amqp091')
  .describe('AMQP 0-9-1 (queues and exchanges) or AMQP 1.0 (addresses).');
const ackMode = z
  .enum(['on-confirm', 'on-publish', 'no-ack'])
  .describe(
    "When the source's message is acknowledged: once the destination confirmed it (on-confirm, the broker's default and the only mode that loses nothing), once published, or never.",
  );

// 'never', 'queue-length' (what the queue held when the shovel started) or a number of messages.
const deleteAfter = withRules(
  z.union([z.enum(['never', 'queue-length']), z.number().int().min(1)]).meta({
    'x-kubernetes-int-or-string': true,
  }),
  {
    rule: "type(self) == int ? self >= 1 : self in ['never', 'queue-length']",
    message: "must be 'never', 'queue-length' or a number of messages (at least 1)",
  },
);

const source = withRules(
  z.object({
    protocol,
    queue: brokerName().optional().describe('AMQP 0-9-1: the queue to consume (declared if missing).'),
    exchange: brokerName()
      .optional()
      .describe('AMQP 0-9-1: the exchange to consume, through a queue of its own bound with routingKey.'),
    routingKey: z.string().max(255).optional().describe('With exchange: the binding key (default empty).'),
    address: z.string().min(1).max(1024).optional().describe('AMQP 1.0: the address to consume.'),
    prefetchCount: z.number().int().min(1).optional().describe('Unacknowledged messages in flight.'),
    deleteAfter: deleteAfter
      .optional()
      .describe(
        'never (default), queue-length (move what the queue held at start, then stop) or a number of messages. A shovel that stopped this way removed itself: warren does not declare it again until the spec changes.',
      ),
    consumerArgs: args.optional().describe('AMQP 0-9-1: consumer arguments, e.g. x-priority.'),
    queueArgs: args
      .optional()
      .describe('AMQP 0-9-1: arguments of the source queue if the shovel declares it.'),
  }),
  {
    rule: "self.protocol == 'amqp10' ? has(self.address) : !has(self.address)",
    message: 'an AMQP 1.0 source needs address; an AMQP 0-9-1 source takes queue or exchange instead',
  },
  {
    rule: "self.protocol == 'amqp10' ? !has(self.queue) && !has(self.exchange) && !has(self.routingKey) && !has(self.consumerArgs) && !has(self.queueArgs) : has(self.queue) != has(self.exchange)",
    message: 'an AMQP 0-9-1 source is exactly one of queue or exchange; an AMQP 1.0 source only an address',
  },
  { rule: '!has(self.routingKey) || has(self.exchange)', message: 'routingKey goes with exchange' },
);

const destination = withRules(
  z.object({
    protocol,
    queue: brokerName().optional().describe('AMQP 0-9-1: the queue to publish to (declared if missing).'),
    exchange: brokerName().optional().describe('AMQP 0-9-1: the exchange to publish to.'),
    routingKey: z
      .string()
      .max(255)
      .optional()
      .describe("The routing key to publish with; by default the message's own."),
    address: z.string().min(1).max(1024).optional().describe('AMQP 1.0: the address to send to.'),
    addForwardHeaders: z.boolean().optional().describe('Add headers saying where the message came from.'),
    addTimestampHeader: z.boolean().optional().describe('Add a header with the time it was shovelled.'),
    publishProperties: args.optional().describe('AMQP 0-9-1: message properties to set, e.g. delivery_mode.'),
    queueArgs: args
      .optional()
      .describe('AMQP 0-9-1: arguments of the destination queue if the shovel declares it.'),
    applicationProperties: args.optional().describe('AMQP 1.0: application properties to set.'),
    properties: args.optional().describe('AMQP 1.0: message properties to set.'),
    messageAnnotations: args.optional().describe('AMQP 1.0: message annotations to set.'),
  }),
  {
    rule: "self.protocol == 'amqp10' ? has(self.address) && !has(self.queue) && !has(self.exchange) && !has(self.routingKey) && !has(self.publishProperties) && !has(self.queueArgs) : !has(self.address) && !has(self.applicationProperties) && !has(self.properties) && !has(self.messageAnnotations)",
    message:
      'an AMQP 1.0 destination takes address (and applicationProperties, properties, messageAnnotations); an AMQP 0-9-1 destination queue or exchange (and publishProperties, queueArgs)',
  },
  {
    rule: '!(has(self.queue) && has(self.exchange))',
    message: 'a destination is a queue or an exchange, not both',
  },
  { rule: '!(has(self.routingKey) && has(self.queue))', message: 'routingKey goes with exchange' },
);

export const RabbitShovel = defineKind({
  kind: 'RabbitShovel',
  plural: 'rabbitshovels',
  shortName: 'rshovel',
  description:
    'A RabbitMQ dynamic shovel: moves messages from a source (queue, exchange or AMQP 1.0 address, on any broker) to a destination. Ready only while the broker reports it running.',
  spec: withRules(
    z.object({
      brokerRef,
      deletionPolicy,
      name: brokerName().optional().describe("The shovel's name in the broker; defaults to metadata.name."),
      vhost: vhostField,
      uriSecretRef: uriSecretRef(
        'A Secret in this namespace with keys srcUri and destUri: AMQP URIs (amqp:// alone is this broker, amqp:///vh its vhost vh; several separated by commas are tried in turn). Watched: a changed URI re-declares the shovel.',
      ),
      source: source.describe(
        'Where messages come from: a queue or an exchange (AMQP 0-9-1), or an address (AMQP 1.0), on the broker srcUri connects to.',
      ),
      destination: destination.describe(
        'Where messages go: a queue or an exchange (AMQP 0-9-1), or an address (AMQP 1.0), on the broker destUri connects to.',
      ),
      ackMode: ackMode.optional(),
      reconnectDelay: z
        .number()
        .min(0)
        .optional()
        .describe('Seconds to wait before reconnecting after a failure.'),
    }),
    immutableOptional('name'),
  ),
  status: {
    name: z.string().optional().describe('The shovel name in effect in the broker.'),
    state: z
      .string()
      .optional()
      .describe(
        'As the broker reports it: running, starting, terminated; completed once a deleteAfter shovel removed itself.',
      ),
  },
  columns: [
    { name: 'Shovel', type: 'string', jsonPath: '.status.name' },
    { name: 'Vhost', type: 'string', jsonPath: '.spec.vhost' },
    { name: 'State', type: 'string', jsonPath: '.status.state' },
  ],
});
export type RabbitShovelSpec = z.output<typeof RabbitShovel.spec>;
