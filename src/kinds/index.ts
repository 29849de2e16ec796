import { permissionKind } from './permission.ts';
import { queueKind } from './queue.ts';
import { topicPermissionKind } from './topic-permission.ts';
import type { TopologyKind } from './types.ts';
import { userKind } from './user.ts';
import { vhostKind } from './vhost.ts';

/** Every topology kind warren reconciles; a new kind is one entry here. */
export const TOPOLOGY_KINDS: TopologyKind[] = [
  vhostKind,
  userKind,
  permissionKind,
  topicPermissionKind,
  queueKind,
];
