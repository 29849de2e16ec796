import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import type { Resource } from '../api/common.ts';
import { describeError, microTime, type Kube } from './kube.ts';

export const REPORTING_CONTROLLER = 'warren.dev/operator';

/** Publishes events.k8s.io/v1 events; best effort, failures are logged, never thrown. */
export class Recorder {
  private readonly kube: Kube;
  private readonly instance: string;
  private readonly log: Logger;

  constructor(kube: Kube, instance: string, log: Logger) {
    this.kube = kube;
    this.instance = instance.slice(0, 128);
    this.log = log;
  }

  async emit(obj: Resource, type: 'Normal' | 'Warning', reason: string, action: string, note: string) {
    const namespace = obj.metadata.namespace;
    try {
      await this.kube.create(`/apis/events.k8s.io/v1/namespaces/${namespace}/events`, {
        metadata: {
          name: `${obj.metadata.name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`,
          namespace,
        },
        eventTime: microTime(),
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
      });
    } catch (err) {
      this.log.debug({ err: describeError(err), reason }, 'event not recorded');
    }
  }
}
