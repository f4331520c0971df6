/** One endpoint as destination publishes it for a meshed workload. */
export interface SampleEndpoint {
  address: string;
  port: number;
  weight: number;
  labels: Record<string, string>;
  identity: string;
  protocolHint: 'h2';
  zone: string;
  workload: { kind: string; namespace: string; name: string };
}

/**
 * The endpoint set of a big service as destination would publish it: `count`
 * meshed pods with distinct addresses and pod-style names, three zones, the
 * labels and identity of real endpoints. For size and throughput tests.
 */
export function sampleEndpointSet(count: number, service = 'big', namespace = 'shop') {
  const zones = ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'];
  const endpoints: SampleEndpoint[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${service}-7d9f8b6c5d-${(i * 7919 + 104_729).toString(36).slice(-5).padStart(5, 'x')}`;
    const zone = zones[i % zones.length]!;
    endpoints.push({
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      port: 8080,
      weight: 10000,
      labels: { serviceaccount: service, workload: name, zone },
      identity: `${service}.${namespace}.serviceaccount.identity.meshbus.cluster.local`,
      protocolHint: 'h2',
      zone,
      workload: { kind: 'Workload', namespace, name },
    });
  }
  return { namespace, service, port: 80, labels: { namespace, service }, endpoints };
}
