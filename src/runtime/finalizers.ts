import type { Kube, ObjectRef } from './kube.ts';

// Finalizers change through JSON Patch guarded by a `test`, so another controller's finalizer
// added meanwhile is never overwritten: the patch fails (422) instead and the key is retried with
// fresh state.

interface Meta {
  finalizers?: string[];
  resourceVersion?: string;
}

export async function addFinalizer(kube: Kube, ref: ObjectRef, meta: Meta, name: string): Promise<boolean> {
  const current = meta.finalizers;
  if (current?.includes(name)) return false;
  // JSON Patch cannot test that a member is absent: guard the first finalizer by resourceVersion.
  const ops = current
    ? [
        { op: 'test', path: '/metadata/finalizers', value: current },
        { op: 'add', path: '/metadata/finalizers/-', value: name },
      ]
    : [
        { op: 'test', path: '/metadata/resourceVersion', value: meta.resourceVersion },
        { op: 'add', path: '/metadata/finalizers', value: [name] },
      ];
  await kube.jsonPatch(ref, ops);
  return true;
}

export async function removeFinalizer(
  kube: Kube,
  ref: ObjectRef,
  meta: Meta,
  name: string,
): Promise<boolean> {
  const i = meta.finalizers?.indexOf(name) ?? -1;
  if (i < 0) return false;
  await kube.jsonPatch(ref, [
    { op: 'test', path: `/metadata/finalizers/${i}`, value: name },
    { op: 'remove', path: `/metadata/finalizers/${i}` },
  ]);
  return true;
}
