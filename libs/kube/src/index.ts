export { ResourceInformer, type InformerEvent, type InformerObserver, type ResourceInformerOptions } from './informer.js';
export {
  kubernetesResourceSource,
  objectFileName,
  type InformerStatus,
  type KubernetesResourceSource,
  type KubernetesResourceSourceOptions,
} from './kubernetes-source.js';
export {
  apiVersionOf,
  collectionPath,
  destinationResources,
  kubeResources,
  linkerdPolicyResources,
  meshbusPolicyResources,
  policyResources,
  resourceName,
  type KubeResource,
} from './kube-resources.js';
export { KubeRequestError, listCollection } from './kube-list.js';
export { objectKey, type KubeObject } from './kube-object.js';
export { nodeZone, podNodeName, proxyContainerName, proxyVersionAnnotation, workloadDocumentFromPod, zoneLabel } from './pod-workload.js';
export { loadKubeConfig, resourceSourceFromEnv, type ResourceSourceConfig } from './source-config.js';
