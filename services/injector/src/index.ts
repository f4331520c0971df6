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
export { applyAdds, excludedNamespaces, injectPod, isInjected, names, pointerToken, proxyPorts, proxyUid, type InjectedCode, type InjectionConfig, type InjectionResult, type SkippedCode, type TrustAnchorsDelivery } from './inject.js';
export { uninjectPod } from './uninject.js';
export type { Container, NamespaceInfo, ObjectMeta, PatchOperation, Pod, PodSpec } from './k8s-types.js';
export { podCreateReview, reviewAdmission, type AdmissionAnswer, type AdmittedPod, type AdmittedRequest, type NamespaceLookup, type PodCreateReviewOptions } from './admission.js';
export { BusPodEvents, podInjectionEvent, type BusPodEventsOptions, type DropReason, type PodEventSink, type PodInjectionEvent } from './pod-events.js';
export { FolderNamespaceLookup } from './namespace-lookup.js';
export { envToConfig, injectionTrust, type EventsConfig, type InjectorConfig, type NamespaceSourceConfig } from './config.js';
export { TrustMaterialError, TrustMaterialFiles, trustMaterialOf, type TrustMaterial, type TrustMaterialFilesOptions } from './trust-material.js';
export { createInjectorService, type InjectorOverrides } from './composition-root.js';
export type { InjectorService } from './injector-service.js';
