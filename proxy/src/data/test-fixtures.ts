import type { destination, inbound, outbound } from '@meshbus/proxy-api';
import { UnknownServiceError, type Discovery } from './discovery.js';

/** A Discovery answering from maps the test fills: policies by authority and by address, endpoints by path. */
export class TestDiscovery implements Discovery {
  readonly byAuthority = new Map<string, outbound.OutboundPolicy>();
  readonly byAddr = new Map<string, outbound.OutboundPolicy>();
  readonly paths = new Map<string, destination.WeightedAddr[]>();
  readonly addrLookups: string[] = [];

  outboundPolicy(authority: string): Promise<outbound.OutboundPolicy> {
    const policy = this.byAuthority.get(authority);
    return policy ? Promise.resolve(policy) : Promise.reject(new UnknownServiceError(authority));
  }
  outboundPolicyByAddr(addr: string): Promise<outbound.OutboundPolicy> {
    this.addrLookups.push(addr);
    const policy = this.byAddr.get(addr);
    return policy ? Promise.resolve(policy) : Promise.reject(new Error(`no policy for ${addr}`));
  }
  endpoints(path: string, onUpdate: (update: destination.Update) => void): () => void {
    const addrs = this.paths.get(path) ?? [];
    queueMicrotask(() => onUpdate({ update: { $case: 'add', add: { addrs, metricLabels: {} } } }));
    return () => undefined;
  }
  inboundPolicy(): inbound.Server | undefined {
    return undefined;
  }
}
