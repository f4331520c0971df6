import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { destination, identity, inbound, outbound, protoDir } from './index.js';

describe('@meshbus/proxy-api', () => {
  it('points protoDir at the folder holding the .proto files', () => {
    for (const file of ['destination.proto', 'identity.proto', 'inbound.proto', 'outbound.proto', 'net.proto']) {
      expect(existsSync(join(protoDir, file)), file).toBe(true);
    }
  });

  it('exposes the service definitions under their Linkerd method paths', () => {
    expect(destination.DestinationService.getProfile.path).toBe('/io.linkerd.proxy.destination.Destination/GetProfile');
    expect(identity.IdentityService.certify.path).toBe('/io.linkerd.proxy.identity.Identity/Certify');
    expect(inbound.InboundServerPoliciesService.getPort.path).toBe('/io.linkerd.proxy.inbound.InboundServerPolicies/GetPort');
    expect(inbound.InboundServerPoliciesService.watchPort.path).toBe(
      '/io.linkerd.proxy.inbound.InboundServerPolicies/WatchPort',
    );
    expect(outbound.OutboundPoliciesService.get.path).toBe('/io.linkerd.proxy.outbound.OutboundPolicies/Get');
    expect(outbound.OutboundPoliciesService.watch.path).toBe('/io.linkerd.proxy.outbound.OutboundPolicies/Watch');
    expect(outbound.OutboundPoliciesService.watch.responseStream).toBe(true);
  });
});
