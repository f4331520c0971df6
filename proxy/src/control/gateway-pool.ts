import { readFileSync } from 'node:fs';
import { Channel, credentials as grpcCredentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { destination, inbound, outbound } from '@meshbus/proxy-api';
import { ConfigError, errorMessage } from '@meshbus/runtime';
import type { GatewayTransport } from './config.js';

/** The clients of one gateway replica, all on one shared HTTP/2 channel. */
export interface GatewayClients {
  readonly address: string;
  readonly destination: destination.DestinationClient;
  readonly inbound: inbound.InboundServerPoliciesClient;
  readonly outbound: outbound.OutboundPoliciesClient;
}

/** Channel options of the gateway connection, and the TLS name when one is set. */
export function gatewayChannelOptions(transport: GatewayTransport): ChannelOptions {
  const options: ChannelOptions = {
    // Notice a dead gateway on an idle connection within about half a minute.
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_timeout_ms': 10_000,
  };
  if (transport.kind === 'tls' && transport.serverName !== undefined) {
    options['grpc.ssl_target_name_override'] = transport.serverName;
    options['grpc.default_authority'] = transport.serverName;
  }
  return options;
}

/**
 * The credentials of the gateway connection: TLS against the CA given in the environment, the CA
 * file (read once, here) or the system trust store, or plaintext. A CA file that cannot be read is a {@link ConfigError}.
 */
export function gatewayCredentials(transport: GatewayTransport): ChannelCredentials {
  if (transport.kind === 'plaintext') return grpcCredentials.createInsecure();
  if (transport.caPem !== undefined) return grpcCredentials.createSsl(Buffer.from(transport.caPem));
  if (transport.caFile === undefined) return grpcCredentials.createSsl();
  let ca: Buffer;
  try {
    ca = readFileSync(transport.caFile);
  } catch (error) {
    throw new ConfigError(`MESHBUS_PROXY_GATEWAY_CA ${transport.caFile} cannot be read: ${errorMessage(error)}`);
  }
  return grpcCredentials.createSsl(ca);
}

/**
 * One HTTP/2 channel per gateway replica, shared by every watch on that replica: the proxy holds
 * at most one connection to each gateway, however many streams it opens.
 */
export class GatewayPool {
  readonly addresses: readonly string[];
  private readonly credentials: ChannelCredentials;
  private readonly channelOptions: ChannelOptions;
  private readonly entries = new Map<string, { channel: Channel; clients: GatewayClients }>();
  private closed = false;

  constructor(options: { gateways: readonly string[]; credentials: ChannelCredentials; channelOptions?: ChannelOptions }) {
    if (options.gateways.length === 0) throw new ConfigError('gateways is empty; give at least one host:port');
    this.addresses = [...options.gateways];
    this.credentials = options.credentials;
    this.channelOptions = options.channelOptions ?? {};
  }

  /** The clients of the gateway at `address`, made on first use. */
  clients(address: string): GatewayClients {
    if (this.closed) throw new Error('the gateway pool is closed');
    const entry = this.entries.get(address);
    if (entry !== undefined) return entry.clients;
    const channel = new Channel(address, this.credentials, this.channelOptions);
    const shared = { channelOverride: channel };
    const clients: GatewayClients = {
      address,
      destination: new destination.DestinationClient(address, this.credentials, shared),
      inbound: new inbound.InboundServerPoliciesClient(address, this.credentials, shared),
      outbound: new outbound.OutboundPoliciesClient(address, this.credentials, shared),
    };
    this.entries.set(address, { channel, clients });
    return clients;
  }

  /** Closes every channel; calls in flight on them fail with CANCELLED. */
  close(): void {
    this.closed = true;
    for (const { channel } of this.entries.values()) channel.close();
    this.entries.clear();
  }
}
