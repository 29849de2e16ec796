import { Reasons, type Resource } from '../api/common.ts';
import { isReady } from '../runtime/conditions.ts';
import { username } from './user.ts';
import { vhostName } from './vhost.ts';
import { Blocked, depKeys, type KindContext, type Refs } from './types.ts';

/** The who and where of a permission: names given directly or through RabbitUser/RabbitVhost references. */
export interface SubjectSpec {
  vhost?: string;
  vhostRef?: { name: string };
  user?: string;
  userRef?: { name: string };
}

export interface Subject {
  vhost: string;
  user: string;
}

/** The caches specSubject reads. */
export const SUBJECT_REFERENCES = ['rabbitvhosts', 'rabbitusers'] as const;

/**
 * The broker names a permission is about, with references resolved through the caches from the
 * referenced resource's spec (not its status), so `user: jack` and `userRef: {name: jack}` are
 * one broker object even before the RabbitUser is Ready. Undefined while a reference dangles.
 */
export function specSubject(r: Resource<SubjectSpec, any>, refs: Refs): Subject | undefined {
  const ns = r.metadata.namespace;
  const s = r.spec;
  const v = s.vhostRef ? refs.lookup('rabbitvhosts', ns, s.vhostRef.name) : undefined;
  const u = s.userRef ? refs.lookup('rabbitusers', ns, s.userRef.name) : undefined;
  const vhost = s.vhostRef ? v && vhostName(v) : (s.vhost ?? '/');
  const user = s.userRef ? u && username(u) : s.user;
  return vhost !== undefined && user !== undefined ? { vhost, user } : undefined;
}

/** Identity parts for the ownership index; a dangling reference is unique to its resource. */
export function subjectIdentity(r: Resource<SubjectSpec, any>, refs: Refs): string[] {
  const s = specSubject(r, refs);
  return s ? [s.vhost, s.user] : ['(unresolved)', r.metadata.namespace, r.metadata.name];
}

function referenced(
  ctx: KindContext,
  plural: string,
  kind: string,
  namespace: string,
  name: string,
  nameInBroker: (r: Resource<any, any>) => string | undefined,
): string {
  ctx.dependOn(depKeys.resource(plural, namespace, name));
  const target = ctx.lookup(plural, namespace, name);
  if (!target) throw new Blocked(Reasons.WaitingForDependency, `${kind} ${namespace}/${name} not found`);
  const resolved = nameInBroker(target);
  if (!isReady(target) || !resolved) {
    throw new Blocked(Reasons.WaitingForDependency, `${kind} ${namespace}/${name} is not Ready yet`);
  }
  return resolved;
}

/** Resolves references; waits (WaitingForDependency) until a referenced resource is Ready. */
export function resolveSubject(r: Resource<SubjectSpec, any>, ctx: KindContext): Subject {
  const ns = r.metadata.namespace;
  const s = r.spec;
  const vhost = s.vhostRef
    ? referenced(ctx, 'rabbitvhosts', 'RabbitVhost', ns, s.vhostRef.name, vhostName)
    : (s.vhost ?? '/');
  const user = s.userRef
    ? referenced(ctx, 'rabbitusers', 'RabbitUser', ns, s.userRef.name, username)
    : s.user!;
  ctx.dependOn(depKeys.object(ctx.brokerKey, ['vhost', vhost]));
  ctx.dependOn(depKeys.object(ctx.brokerKey, ['user', user]));
  return { vhost, user };
}

/**
 * The subject a resource last applied, from warren's own bookkeeping (its identity then:
 * [type, vhost, user, ...]), never from its status: a status anyone may write would name any
 * user's permission in any vhost.
 */
export function previousSubject(previous: string[] | undefined): Subject | undefined {
  if (!previous || previous[1] === '(unresolved)') return undefined;
  return { vhost: previous[1]!, user: previous[2]! };
}

/** The broker's "vhost_or_user_not_found" means a dependency is missing, not that the spec is wrong. */
export function waitIfMissing(err: unknown, s: Subject): never {
  const reason = (err as { reason?: string })?.reason ?? '';
  if (/vhost_or_user_not_found|no_such_user|no_such_vhost|vhost_not_found/.test(reason)) {
    throw new Blocked(
      Reasons.WaitingForDependency,
      `vhost '${s.vhost}' or user '${s.user}' does not exist in the broker`,
    );
  }
  // RabbitMQ 4.3 refuses a topic permission on an exchange that does not exist yet (3.10, 4.0 accept it).
  if (/no_such_exchange/.test(reason)) {
    throw new Blocked(
      Reasons.WaitingForDependency,
      `${reason}: the exchange does not exist in the broker yet`,
    );
  }
  throw err;
}

/**
 * A permission whose user or vhost changed (a renamed RabbitUser) is removed where it was, unless
 * another resource declares that one.
 */
export async function removeIfMoved(
  now: Subject,
  identity: (old: Subject) => string[],
  ctx: KindContext,
  remove: (old: Subject) => Promise<unknown>,
): Promise<boolean> {
  const old = previousSubject(ctx.previous);
  if (!old || (old.user === now.user && old.vhost === now.vhost)) return false;
  if (ctx.declaredByOther(identity(old))) return false;
  await remove(old);
  return true;
}
