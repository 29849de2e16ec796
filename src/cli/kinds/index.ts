import { TOPOLOGY_KINDS } from '../../kinds/index.ts';
import type { CliKind } from '../types.ts';
import { binding } from './binding.ts';
import { exchange } from './exchange.ts';
import { federation, federationUpstreamSet } from './federation.ts';
import { permission } from './permission.ts';
import { operatorPolicy, policy } from './policy.ts';
import { queue } from './queue.ts';
import { shovel } from './shovel.ts';
import { superStream } from './superstream.ts';
import { topicPermission } from './topic-permission.ts';
import { user } from './user.ts';
import { vhost } from './vhost.ts';

/**
 * What each kind contributes to `warren export` and `warren diff`, in the order of TOPOLOGY_KINDS
 * (a test checks that every kind has one). A new kind adds its file here and one entry.
 */
export const CLI_KINDS: CliKind[] = [
  vhost,
  user,
  permission,
  topicPermission,
  queue,
  exchange,
  binding,
  policy,
  operatorPolicy,
  shovel,
  federation,
  federationUpstreamSet,
  superStream,
].sort((a, b) => TOPOLOGY_KINDS.indexOf(a.kind) - TOPOLOGY_KINDS.indexOf(b.kind));

/** The word for a kind in patterns and messages: RabbitTopicPermission → topicpermission. */
export const kindWord = (k: CliKind) => k.kind.def.kind.replace(/^Rabbit/, '').toLowerCase();
