import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import type { Resource } from '../api/common.ts';
import { describeError } from './kube.ts';

export const REPORTING_CONTROLLER = 'warren.dev/operator';

/** Publishes events.k8s.io/v1 events; best effort, failures are logged, never thrown. */
export class Recorder {
  private readonly api: k8s.EventsV1Api;
  private readonly instance: string;
  private readonly log: Logger;

  constructor(api: k8s.EventsV1Api, instance: string, log: Logger) {
    this.api = api;
    this.instance = instance.slice(0, 128);
    this.log = log;
  }

  async emit(obj: Resource, type: 'Normal' | 'Warning', reason: string, action: string, note: string) {
    const namespace = obj.metadata.namespace;
    try {
      await this.api.createNamespacedEvent({
        namespace,
        body: {
          metadata: {
            name: `${obj.metadata.name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`,
            namespace,
          },
          eventTime: new k8s.V1MicroTime(),
          type,
          reason,
          action,
          note: note.slice(0, 1024),
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: this.instance,
          regarding: {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            name: obj.metadata.name,
            namespace,
            uid: obj.metadata.uid,
            resourceVersion: obj.metadata.resourceVersion,
          },
        },
      });
    } catch (err) {
      this.log.debug({ err: describeError(err), reason }, 'event not recorded');
    }
  }
}
