import { RabbitBroker } from './broker.ts';
import { RabbitPermission, RabbitTopicPermission } from './permission.ts';
import { RabbitQueue } from './queue.ts';
import { RabbitUser } from './user.ts';
import { RabbitVhost } from './vhost.ts';

export { RabbitBroker, RabbitPermission, RabbitQueue, RabbitTopicPermission, RabbitUser, RabbitVhost };
export const ALL_KINDS = [
  RabbitBroker,
  RabbitVhost,
  RabbitUser,
  RabbitPermission,
  RabbitTopicPermission,
  RabbitQueue,
];
