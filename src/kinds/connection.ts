// How warren reaches a RabbitBroker's management API: its endpoint or the RabbitmqCluster it names
// (docs/brokers.md), its credentials, and TLS (docs/brokers.md "TLS").
// Everything read here comes from watched caches, and each read records a dependency, so a
// rotated password, CA or client certificate, or a cluster's new Service, reaches the client at
// once: the registry rebuilds a client when the fingerprint changes.
import type * as k8s from '@kubernetes/client-node';
import { rootCertificates } from 'node:tls';
import * as tls from 'node:tls';
import { Reasons } from '../api/common.ts';
import { NotWatchedError, secretValue, type RefCache } from '../runtime/secrets.ts';
import type { BrokerResource } from './brokers.ts';
import { key } from './keys.ts';
import { Blocked, depKeys } from './types.ts';

/** The fields of a rabbitmq.com/v1beta1 RabbitmqCluster that warren reads. */
export interface RabbitmqCluster {
  metadata?: k8s.V1ObjectMeta;
  spec?: { replicas?: number; tls?: { secretName?: string; caSecretName?: string } };
  status?: {
    binding?: { name?: string };
    defaultUser?: {
      secretReference?: { name?: string; namespace?: string; keys?: Record<string, string> };
      serviceReference?: { name?: string; namespace?: string };
    };
  };
}

export const CLUSTER_GROUP = 'rabbitmq.com';
export const CLUSTER_VERSION = 'v1beta1';
/** On a RabbitmqCluster: the other namespaces whose RabbitBrokers may use it (as the Topology Operator reads it). */
export const CLUSTER_ALLOWED_ANNOTATION = 'rabbitmq.com/topology-allowed-namespaces';

/** Dependency keys of the other objects a connection reads (Secrets use depKeys.secret). */
export const refKeys = {
  configMap: (namespace: string, name: string) => key('configmap', namespace, name),
  cluster: (namespace: string, name: string) => key('rabbitmqcluster', namespace, name),
  service: (namespace: string, name: string) => key('service', namespace, name),
};

export interface ConnectionSources {
  secrets: RefCache<k8s.V1Secret>;
  configMaps: RefCache<k8s.V1ConfigMap>;
  clusters: RefCache<RabbitmqCluster>;
  services: RefCache<k8s.V1Service>;
  /**
   * The host name of a Service: `<service>.<namespace>.svc` in a cluster (WARREN_SERVICE_HOST,
   * docs/install.md "Configuration"), something else where cluster DNS does not reach (tests).
   */
  serviceHost: (service: string, namespace: string) => string;
}

export interface Connection {
  endpoint: string;
  username: string;
  password: string;
  https?: { ca?: string[]; cert?: string; key?: string; rejectUnauthorized: boolean; servername?: string };
  /** Changes whenever anything the connection was built from changed. */
  fingerprint: string;
  /** Certificates are not verified (spec.tls.insecureSkipVerify). */
  insecure: boolean;
}

/** Node's default trust store (the bundled roots, plus the system's with --use-system-ca). */
function systemCAs(): string[] {
  const get = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  return get ? get('default') : [...rootCertificates];
}

/** Reads an object through a cache; a namespace warren does not watch is NotAllowed. */
async function read<T>(cache: RefCache<T>, namespace: string, name: string): Promise<T | undefined> {
  try {
    return await cache.get(namespace, name);
  } catch (err) {
    if (err instanceof NotWatchedError) throw new Blocked(Reasons.NotAllowed, err.message);
    throw err;
  }
}

const rv = (o: { metadata?: k8s.V1ObjectMeta } | undefined) => o?.metadata?.resourceVersion ?? '-';

export async function resolveConnection(
  broker: BrokerResource,
  src: ConnectionSources,
  deps: Set<string>,
): Promise<Connection> {
  const ns = broker.metadata.namespace;
  const parts: unknown[] = [];
  let endpoint = broker.spec.endpoint;
  let credentials:
    { namespace: string; name: string; keys: { username: string; password: string } } | undefined;
  let clusterCA: { namespace: string; name: string } | undefined;

  const secret = async (namespace: string, name: string) => {
    deps.add(depKeys.secret(namespace, name));
    const s = await read(src.secrets, namespace, name);
    if (!s) throw new Blocked(Reasons.SecretNotFound, `Secret ${namespace}/${name} not found`);
    parts.push(rv(s));
    return s;
  };

  if (broker.spec.credentialsSecretRef) {
    credentials = {
      namespace: ns,
      name: broker.spec.credentialsSecretRef.name,
      keys: { username: 'username', password: 'password' },
    };
  }

  const ref = broker.spec.rabbitmqClusterRef;
  if (ref) {
    const cns = ref.namespace ?? ns;
    const what = `RabbitmqCluster ${cns}/${ref.name}`;
    deps.add(refKeys.cluster(cns, ref.name));
    const cluster = await read(src.clusters, cns, ref.name);
    if (!cluster) throw new Blocked(Reasons.BrokerNotFound, `${what} not found`);
    parts.push(rv(cluster));
    if (cns !== ns) {
      const allowed = (cluster.metadata?.annotations?.[CLUSTER_ALLOWED_ANNOTATION] ?? '')
        .split(',')
        .map((s) => s.trim());
      if (!allowed.includes('*') && !allowed.includes(ns)) {
        throw new Blocked(
          Reasons.NotAllowed,
          `${what} does not list namespace ${ns} in its annotation ${CLUSTER_ALLOWED_ANNOTATION}`,
        );
      }
    }
    const user = cluster.status?.defaultUser;
    const svcName = user?.serviceReference?.name;
    if (!svcName)
      throw new Blocked(Reasons.BrokerNotReady, `${what} has no status.defaultUser.serviceReference yet`);
    // The cluster's status is written by whoever may write it, not only by its operator: it may
    // name objects in the cluster's own namespace only (else any Secret in the cluster could be
    // read and sent as Basic auth to any Service).
    const foreign = (field: string, n: string | undefined) => {
      if (n !== undefined && n !== cns)
        throw new Blocked(
          Reasons.NotAllowed,
          `${what}: status.defaultUser.${field}.namespace is ${n}: only the cluster's own namespace ${cns} is used`,
        );
    };
    foreign('serviceReference', user?.serviceReference?.namespace);
    if (!credentials) foreign('secretReference', user?.secretReference?.namespace);
    const svcNs = cns;
    deps.add(refKeys.service(svcNs, svcName));
    const service = await read(src.services, svcNs, svcName);
    if (!service)
      throw new Blocked(Reasons.BrokerNotReady, `Service ${svcNs}/${svcName} of ${what} not found`);
    parts.push(rv(service));
    const tlsOn = !!cluster.spec?.tls?.secretName;
    const portName = tlsOn ? 'management-tls' : 'management';
    const port = service.spec?.ports?.find((p) => p.name === portName)?.port;
    if (!port)
      throw new Blocked(Reasons.BrokerNotReady, `Service ${svcNs}/${svcName} has no port named ${portName}`);
    endpoint = `${tlsOn ? 'https' : 'http'}://${src.serviceHost(svcName, svcNs)}:${port}`;
    if (tlsOn)
      clusterCA = { namespace: cns, name: cluster.spec!.tls!.caSecretName ?? cluster.spec!.tls!.secretName! };
    if (!credentials) {
      const sref = user?.secretReference;
      const name = sref?.name ?? cluster.status?.binding?.name;
      if (!name)
        throw new Blocked(Reasons.BrokerNotReady, `${what} has no default user Secret in its status yet`);
      credentials = {
        namespace: cns,
        name,
        keys: { username: sref?.keys?.username ?? 'username', password: sref?.keys?.password ?? 'password' },
      };
    }
  }
  if (!endpoint || !credentials)
    throw new Blocked(Reasons.InvalidSpec, 'set endpoint and credentialsSecretRef, or rabbitmqClusterRef');

  const cs = await secret(credentials.namespace, credentials.name);
  const username = secretValue(cs, credentials.keys.username);
  const password = secretValue(cs, credentials.keys.password);
  if (!username || !password) {
    throw new Blocked(
      Reasons.InvalidSecret,
      `Secret ${credentials.namespace}/${credentials.name} must hold keys ${credentials.keys.username} and ${credentials.keys.password}`,
    );
  }

  const t = broker.spec.tls;
  // TLS settings on a plain endpoint would be ignored, and the admin password sent in clear text.
  if (t && !endpoint.startsWith('https:'))
    throw new Blocked(
      Reasons.InvalidSpec,
      `spec.tls is set but the management endpoint ${endpoint} is not https: the credentials would travel in clear text`,
    );
  let https: Connection['https'];
  if (endpoint.startsWith('https:')) {
    https = { rejectUnauthorized: !t?.insecureSkipVerify };
    if (t?.serverName) https.servername = t.serverName;
    let bundle: string | undefined;
    if (t?.ca?.secretKeyRef) {
      const { name, key: k } = t.ca.secretKeyRef;
      bundle = secretValue(await secret(ns, name), k);
      if (!bundle) throw new Blocked(Reasons.InvalidSecret, `Secret ${ns}/${name} has no key ${k}`);
    } else if (t?.ca?.configMapKeyRef) {
      const { name, key: k } = t.ca.configMapKeyRef;
      deps.add(refKeys.configMap(ns, name));
      const cm = await read(src.configMaps, ns, name);
      if (!cm) throw new Blocked(Reasons.WaitingForDependency, `ConfigMap ${ns}/${name} not found`);
      parts.push(rv(cm));
      bundle = cm.data?.[k];
      if (!bundle) throw new Blocked(Reasons.InvalidSpec, `ConfigMap ${ns}/${name} has no key ${k}`);
    } else if (clusterCA) {
      // The cluster's own CA (cert-manager puts ca.crt beside the server certificate).
      bundle = secretValue(await secret(clusterCA.namespace, clusterCA.name), 'ca.crt');
    }
    if (bundle) https.ca = [...systemCAs(), bundle];
    if (t?.clientCertificateSecretRef) {
      const { name } = t.clientCertificateSecretRef;
      const s = await secret(ns, name);
      const cert = secretValue(s, 'tls.crt');
      const k = secretValue(s, 'tls.key');
      if (!cert || !k)
        throw new Blocked(Reasons.InvalidSecret, `Secret ${ns}/${name} must hold keys tls.crt and tls.key`);
      https.cert = cert;
      https.key = k;
    }
  }
  return {
    endpoint,
    username,
    password,
    https,
    insecure: !!https && !https.rejectUnauthorized,
    fingerprint: JSON.stringify([endpoint, broker.spec.tls ?? null, ...parts]),
  };
}
