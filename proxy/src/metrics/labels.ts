/*
 * The label sets of the proxy's metrics, with the names the Linkerd proxy
 * exports, built from typed descriptions of a connection or request. Pure.
 */
import type { meta } from '@meshbus/proxy-api';

/** `inbound`: traffic arriving for the workload; `outbound`: traffic the workload sends. */
export type Direction = 'inbound' | 'outbound';

/** Why a connection is not mutual TLS, with the values of Linkerd's `no_tls_reason` label. */
export const noTlsReasons = [
  'disabled',
  'loopback',
  'port_skipped',
  'no_tls_from_remote',
  'not_provided_by_service_discovery',
  'detect_timeout',
] as const;
export type NoTlsReason = (typeof noTlsReasons)[number];

/**
 * The TLS state of a connection. `peerIdentity` is the other side's mesh
 * identity: the client's on inbound (`client_id`), the server's on outbound
 * (`server_id`).
 */
export type TlsStatus =
  | { readonly established: true; readonly peerIdentity?: string }
  | { readonly established: false; readonly reason: NoTlsReason };

/**
 * A policy resource as the proxy API names it (servers, authorizations,
 * routes): `default` metadata for synthesized ones, `resource` for real ones.
 */
export type PolicyRef = meta.Metadata;

/**
 * Destination metric labels kept as `dst_<name>`; other names the Destination
 * API may send are dropped, so the label set of a series is fixed.
 */
export const dstLabelKeys = [
  'namespace',
  'service',
  'deployment',
  'daemonset',
  'statefulset',
  'replicaset',
  'replicationcontroller',
  'k8s_job',
  'cronjob',
  'pod',
  'pod_template_hash',
  'serviceaccount',
  'zone',
  'zone_locality',
] as const;

interface CommonLabels {
  /** The local or remote `ip:port` the traffic was for (`target_addr`, `target_ip`, `target_port`). */
  readonly targetAddr: string;
  readonly tls: TlsStatus;
  /**
   * A service authority (`web.shop.svc.cluster.local:80`) taken from policy
   * or discovery, never from a request header as received: see
   * {@link ProxyMetricsOptions.maxAuthorities}.
   */
  readonly authority?: string;
}

/** What labels inbound traffic: the server, authorization and route policy that applied. */
export interface InboundLabels extends CommonLabels {
  readonly direction: 'inbound';
  readonly server?: PolicyRef;
  readonly authz?: PolicyRef;
  readonly route?: PolicyRef;
}

/** What labels outbound traffic: the destination's metric labels and the route policy. */
export interface OutboundLabels extends CommonLabels {
  readonly direction: 'outbound';
  readonly dst?: Readonly<Record<string, string>>;
  readonly route?: PolicyRef;
  /** The ServiceProfile route the request matched (`rt_route`). */
  readonly profileRoute?: string;
}

export type TrafficLabels = InboundLabels | OutboundLabels;

/** A TCP connection adds which side of the proxy it is on: accepted (`src`) or opened (`dst`). */
export type TcpLabels = TrafficLabels & { readonly peer: 'src' | 'dst' };

export type LabelValues = Record<string, string>;

const dstLabelNames = dstLabelKeys.map((k) => `dst_${k}`);
const tlsLabelNames = ['tls', 'no_tls_reason', 'client_id', 'server_id'];
const targetLabelNames = ['target_addr', 'target_ip', 'target_port'];
const serverLabelNames = ['srv_group', 'srv_kind', 'srv_name', 'srv_port'];
const authzLabelNames = ['authz_group', 'authz_kind', 'authz_name'];
const routeLabelNames = ['route_group', 'route_kind', 'route_name', 'route_namespace'];

/** Every label a request series can carry. */
export const requestLabelNames: readonly string[] = [
  'direction',
  'authority',
  ...targetLabelNames,
  ...tlsLabelNames,
  ...serverLabelNames,
  ...authzLabelNames,
  ...routeLabelNames,
  'rt_route',
  ...dstLabelNames,
];
/** Labels `response_latency_ms` adds. */
export const latencyLabelNames: readonly string[] = [...requestLabelNames, 'status_code'];
/** Labels `response_total` adds. */
export const responseLabelNames: readonly string[] = [...latencyLabelNames, 'classification', 'grpc_status', 'error'];
/** Every label a TCP series can carry. */
export const tcpLabelNames: readonly string[] = [...requestLabelNames, 'peer'];
/** Labels `tcp_close_total` and `tcp_connection_duration_ms` add. */
export const tcpCloseLabelNames: readonly string[] = [...tcpLabelNames, 'errno'];
/** Labels of the inbound authorization counters. */
export const authzCounterLabelNames: readonly string[] = [...targetLabelNames, ...tlsLabelNames, ...serverLabelNames, ...authzLabelNames, ...routeLabelNames];

/** `10.0.0.1:8080` → [`10.0.0.1`, `8080`]; `[::1]:80` → [`::1`, `80`]. */
export function splitAddr(addr: string): { ip: string; port: string } {
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    return { ip: addr.slice(1, end < 0 ? undefined : end), port: end >= 0 && addr[end + 1] === ':' ? addr.slice(end + 2) : '' };
  }
  const colon = addr.lastIndexOf(':');
  if (colon < 0 || addr.indexOf(':') !== colon) return { ip: addr, port: '' };
  return { ip: addr.slice(0, colon), port: addr.slice(colon + 1) };
}

function policyLabels(out: LabelValues, prefix: 'srv' | 'authz' | 'route', ref: PolicyRef | undefined, withNamespace: boolean): void {
  if (ref?.kind === undefined) return;
  if (ref.kind.$case === 'default') {
    out[`${prefix}_group`] = '';
    out[`${prefix}_kind`] = 'default';
    out[`${prefix}_name`] = ref.kind.default;
  } else {
    const r = ref.kind.resource;
    out[`${prefix}_group`] = r.group;
    out[`${prefix}_kind`] = r.kind.toLowerCase();
    out[`${prefix}_name`] = r.name;
    if (withNamespace) out[`${prefix}_namespace`] = r.namespace;
    if (prefix === 'srv' && r.port > 0) out.srv_port = String(r.port);
  }
}

/**
 * The label values of a request or connection, before authority bounding.
 * Labels that do not apply are absent (not empty).
 */
export function trafficLabelValues(labels: TrafficLabels | TcpLabels): LabelValues {
  const out: LabelValues = { direction: labels.direction };
  if ('peer' in labels) out.peer = labels.peer;
  if (labels.authority !== undefined && labels.authority !== '') out.authority = labels.authority;
  const { ip, port } = splitAddr(labels.targetAddr);
  out.target_addr = labels.targetAddr;
  out.target_ip = ip;
  out.target_port = port;
  Object.assign(out, tlsLabelValues(labels.direction, labels.tls));
  if (labels.direction === 'inbound') {
    policyLabels(out, 'srv', labels.server, false);
    if (labels.server !== undefined && out.srv_port === undefined && out.srv_kind !== undefined) out.srv_port = port;
    policyLabels(out, 'authz', labels.authz, false);
    policyLabels(out, 'route', labels.route, false);
  } else {
    policyLabels(out, 'route', labels.route, true);
    if (labels.profileRoute !== undefined && labels.profileRoute !== '') out.rt_route = labels.profileRoute;
    if (labels.dst !== undefined) {
      for (const key of dstLabelKeys) {
        const v = labels.dst[key];
        if (v !== undefined && v !== '') out[`dst_${key}`] = v;
      }
    }
  }
  return out;
}

/** `tls="true"` with the peer's identity, or `tls="no_identity"` with `no_tls_reason`, as Linkerd labels them. */
export function tlsLabelValues(direction: Direction, tls: TlsStatus): LabelValues {
  if (!tls.established) return { tls: 'no_identity', no_tls_reason: tls.reason };
  const out: LabelValues = { tls: 'true' };
  if (tls.peerIdentity !== undefined && tls.peerIdentity !== '') out[direction === 'inbound' ? 'client_id' : 'server_id'] = tls.peerIdentity;
  return out;
}

/** Success or failure of a response, as Linkerd classifies by default: by gRPC status when there is one, else 5xx fails. */
export function classify(status: number | undefined, grpcStatus: number | undefined, failed: boolean): 'success' | 'failure' {
  if (failed) return 'failure';
  if (grpcStatus !== undefined) return grpcStatus === 0 ? 'success' : 'failure';
  if (status === undefined) return 'failure';
  return status >= 500 ? 'failure' : 'success';
}

/** An `errno` label value: the Node.js system error code (`ECONNRESET`), or `unknown` for anything else. */
export function errnoLabel(code: string): string {
  return /^E[A-Z0-9]{1,24}$/.test(code) ? code : 'unknown';
}
