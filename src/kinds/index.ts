import { RabbitBroker } from '../api/broker.ts';
import type { KindDef } from '../api/common.ts';
import { bindingKind } from './binding.ts';
import { exchangeKind } from './exchange.ts';
import { federationKind, federationUpstreamSetKind } from './federation.ts';
import { permissionKind } from './permission.ts';
import { operatorPolicyKind, policyKind } from './policy.ts';
import { queueKind } from './queue.ts';
import { shovelKind } from './shovel.ts';
import { superStreamKind } from './superstream.ts';
import { topicPermissionKind } from './topic-permission.ts';
import type { TopologyKind } from './types.ts';
import { userKind } from './user.ts';
import { vhostKind } from './vhost.ts';

/**
 * Every topology kind warren reconciles. A new kind is its schema (src/api), its page
 * (src/kinds), one entry here, and its tests: the CRDs, RBAC, the survey and the operator's
 * wiring all follow from this list.
 */
export const TOPOLOGY_KINDS: TopologyKind[] = [
  vhostKind,
  userKind,
  permissionKind,
  topicPermissionKind,
  queueKind,
  exchangeKind,
  bindingKind,
  policyKind,
  operatorPolicyKind,
  shovelKind,
  federationKind,
  federationUpstreamSetKind,
  superStreamKind,
];

/** Every kind's definition, the RabbitBroker first. */
export const ALL_KINDS: KindDef[] = [RabbitBroker, ...TOPOLOGY_KINDS.map((k) => k.def)];
