import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/common.ts';

export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
export const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

/** The parsed Status body of an ApiException, or undefined for other errors. */
export function apiStatus(err: unknown): { code: number; reason?: string; message?: string } | undefined {
  if (!(err instanceof k8s.ApiException)) return undefined;
  try {
    const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return { code: err.code, reason: body?.reason, message: body?.message };
  } catch {
    return { code: err.code };
  }
}

/** A one-line description of any error, without response headers or bodies beyond the Status message. */
export function describeError(err: unknown): string {
  const st = apiStatus(err);
  if (st) return `${st.code}${st.reason ? ` ${st.reason}` : ''}${st.message ? `: ${st.message}` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

export const isNotFound = (err: unknown) => apiStatus(err)?.code === 404;
export const isConflict = (err: unknown) => apiStatus(err)?.code === 409;

export interface ObjectRef {
  plural: string;
  namespace: string;
  name: string;
}

/** Thin calls on warren's own kinds. */
export class Kube {
  readonly custom: k8s.CustomObjectsApi;
  readonly core: k8s.CoreV1Api;
  readonly events: k8s.EventsV1Api;
  readonly coordination: k8s.CoordinationV1Api;
  readonly kc: k8s.KubeConfig;

  constructor(kc: k8s.KubeConfig) {
    this.kc = kc;
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.events = kc.makeApiClient(k8s.EventsV1Api);
    this.coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  }

  patchStatus(ref: ObjectRef, status: unknown): Promise<unknown> {
    return this.custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, ...ref, body: { status } },
      mergePatch,
    );
  }

  jsonPatch(ref: ObjectRef, ops: unknown[]): Promise<unknown> {
    return this.custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, ...ref, body: ops },
      jsonPatch,
    );
  }

  list(plural: string, namespace?: string): Promise<k8s.KubernetesListObject<any>> {
    return (
      namespace
        ? this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace })
        : this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })
    ) as Promise<k8s.KubernetesListObject<any>>;
  }
}
