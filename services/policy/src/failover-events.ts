import type { FailoverChanged, OutboundPolicy, OutboundRoutes } from '@meshbus/bus-schemas';
import type { GrpcRoute, HttpRoute, MeshResources } from '@meshbus/manifests';
import { failoverPrimaryAnnotation } from '@meshbus/policy';

/**
 * Where failover routes stand in one outbound policy: one entry per rule
 * of a route with the failover annotation, by `<outbound key>|<consumer
 * namespace>|<kind>/<route>|<rule>`, with the event that describes it.
 */
export function failoverStates(key: string, policy: OutboundPolicy | undefined, resources: MeshResources): Map<string, FailoverChanged> {
  const out = new Map<string, FailoverChanged>();
  if (!policy) return out;
  const routesOf = (routes: OutboundRoutes, consumer: string) => {
    for (const route of [...routes.httpRoutes, ...routes.grpcRoutes]) {
      const meta = route.metadata;
      if (meta.kind !== 'HTTPRoute' && meta.kind !== 'GRPCRoute') continue;
      const list: readonly (HttpRoute | GrpcRoute)[] = meta.kind === 'HTTPRoute' ? resources.httpRoutes : resources.grpcRoutes;
      const resource = list.find((r) => r.namespace === meta.namespace && r.name === meta.name);
      const primary = resource?.annotations[failoverPrimaryAnnotation];
      if (!resource || primary === undefined) continue;
      route.rules.forEach((rule, i) => {
        const declared = resource.rules[i]?.backendRefs ?? [];
        if (!declared.some((ref) => ref.name === primary)) return;
        const failedOver = rule.backends.some((b, j) => b.weight !== declared[j]?.weight);
        out.set(`${key}|${consumer}|${meta.kind}/${meta.name}|${i + 1}`, {
          namespace: resource.namespace,
          kind: resource.kind,
          route: resource.name,
          rule: i + 1,
          serviceNamespace: policy.namespace,
          service: policy.service,
          port: policy.port,
          primary,
          failedOver,
          backends: rule.backends.map((b) => ({
            ...(b.metadata.namespace !== undefined ? { namespace: b.metadata.namespace } : {}),
            name: b.metadata.name ?? '',
            ...(b.metadata.port !== undefined ? { port: b.metadata.port } : {}),
            weight: b.weight,
          })),
        });
      });
    }
  };
  routesOf(policy.routes, '');
  for (const c of policy.consumerRoutes) routesOf(c.routes, c.namespace);
  return out;
}
