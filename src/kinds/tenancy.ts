// Tenancy: what a resource from another namespace may do with a RabbitBroker it is admitted to
// (README "Tenancy"). The broker's own namespace is never restricted; other namespaces get the
// first `tenants` rule that matches them, or the default rule: every vhost, every tag but the
// privileged ones. Nobody outside the broker's namespace may declare the user warren logs in as.
import type { TenantRule } from '../api/broker.ts';
import type { BrokerResource } from './brokers.ts';

/** Tags that let a user administer the broker, change its policies or act as other users. */
export const PRIVILEGED_TAGS = ['administrator', 'policymaker', 'impersonator'];

/** What a resource would touch in the broker. */
export interface Touch {
  /** The vhost its object lives in, or the vhost it is. */
  vhost?: string;
  /** For a user: its name and the tags it would carry. */
  user?: { name: string; tags: string[] };
}

/** Shell-like pattern: '*' matches any characters (also none); everything else is literal. */
export function matches(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const parts = pattern.split('*');
  if (!value.startsWith(parts[0]!)) return false;
  let at = parts[0]!.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const found = value.indexOf(parts[i]!, at);
    if (found < 0) return false;
    at = found + parts[i]!.length;
  }
  const last = parts[parts.length - 1]!;
  return value.length - at >= last.length && value.endsWith(last);
}

const anyMatch = (patterns: string[], value: string) => patterns.some((p) => matches(p, value));

/** The rule that applies to a namespace: its index in spec.tenants, or -1 for the default rule. */
export function ruleFor(broker: BrokerResource, namespace: string): { index: number; rule: TenantRule } {
  const rules = broker.spec.tenants ?? [];
  const index = rules.findIndex((r) => anyMatch(r.namespaces, namespace));
  return index >= 0 ? { index, rule: rules[index]! } : { index: -1, rule: { namespaces: ['*'] } };
}

/**
 * Why a resource in `namespace` may not do `touch` through this broker, naming the rule; undefined
 * when it may. `brokerUser` is the user the RabbitBroker's credentials log in as.
 */
export function refusal(
  broker: BrokerResource,
  namespace: string,
  touch: Touch,
  brokerUser?: string,
): string | undefined {
  if (namespace === broker.metadata.namespace) return undefined;
  const brokerKey = `${broker.metadata.namespace}/${broker.metadata.name}`;
  if (touch.user && brokerUser !== undefined && touch.user.name === brokerUser) {
    return `RabbitBroker ${brokerKey}: user '${brokerUser}' is the broker's own administrator: only namespace ${broker.metadata.namespace} may declare it`;
  }
  const { index, rule } = ruleFor(broker, namespace);
  const which =
    index >= 0
      ? `RabbitBroker ${brokerKey} spec.tenants[${index}] (namespaces ${rule.namespaces.join(', ')})`
      : `RabbitBroker ${brokerKey} (no spec.tenants rule matches namespace ${namespace}: the default rule)`;
  if (touch.vhost !== undefined && rule.vhosts && !anyMatch(rule.vhosts, touch.vhost)) {
    const allowed = rule.vhosts.length ? `only vhosts ${rule.vhosts.join(', ')}` : 'no vhost';
    return `${which} allows ${allowed}, not '${touch.vhost}'`;
  }
  for (const tag of touch.user?.tags ?? []) {
    if (rule.userTags) {
      if (!anyMatch(rule.userTags, tag)) {
        return `${which} allows user tags ${rule.userTags.join(', ') || '(none)'}, not '${tag}'`;
      }
    } else if (PRIVILEGED_TAGS.includes(tag)) {
      return `${which} does not grant tag '${tag}': list it in the rule's userTags to allow it`;
    }
  }
  return undefined;
}
