// The kinds' schemas. The list of kinds is src/kinds/index.ts (TOPOLOGY_KINDS, ALL_KINDS).
export { RabbitBinding } from './binding.ts';
export { RabbitBroker } from './broker.ts';
export { RabbitExchange } from './exchange.ts';
export { RabbitFederation, RabbitFederationUpstreamSet } from './federation.ts';
export { RabbitPermission, RabbitTopicPermission } from './permission.ts';
export { RabbitOperatorPolicy, RabbitPolicy } from './policy.ts';
export { RabbitQueue } from './queue.ts';
export { RabbitShovel } from './shovel.ts';
export { RabbitSuperStream } from './superstream.ts';
export { RabbitUser } from './user.ts';
export { RabbitVhost } from './vhost.ts';
