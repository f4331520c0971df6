export {
  AnnotationError,
  configAnnotations,
  configPrefix,
  controlNamespaceLabel,
  effectiveConfigAnnotations,
  injectAnnotation,
  injectedByAnnotation,
  parseConfigAnnotations,
  proxyVersionAnnotation,
  proxyVersionLabel,
  trustRootAnnotation,
  type PodOverrides,
} from './annotations.js';
export { applyAdds, excludedNamespaces, injectPod, isInjected, names, pointerToken, proxyPorts, proxyUid, type InjectionConfig, type InjectionResult } from './inject.js';
export { uninjectPod } from './uninject.js';
export type { Container, NamespaceInfo, ObjectMeta, PatchOperation, Pod, PodSpec } from './k8s-types.js';
export { reviewAdmission, type AdmissionAnswer, type NamespaceLookup } from './admission.js';
export { FolderNamespaceLookup } from './namespace-lookup.js';
export { envToConfig, type InjectorConfig } from './config.js';
export { createInjectorService, type InjectorOverrides, type InjectorService } from './injector-service.js';
