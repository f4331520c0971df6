export { freePort } from '@meshbus/local-nats';
export { waitFor, httpGet } from './wait.js';
export { startNats, natsServerBinary, natsAuthorizationConfig, type NatsCluster, type NatsNode, type NatsOptions, type NatsRole, type NatsUser } from './nats-server.js';
export { startProcess, type ProcessOptions, type RunningProcess } from './child-process.js';
export {
  startFakeKubeApi,
  kindPlural,
  type FakeAccessReviewSpec,
  type FakeAccessReviewStatus,
  type FakeKubeApi,
  type FakeKubeApiOptions,
  type FakeKubeObject,
  type FakeKubeRequest,
  type FakePrinterColumn,
  type FakeResourceType,
  type FakeServiceAccountToken,
  type FakeServiceProxyOptions,
  type FakeServiceRef,
  type FakeTokenReviewStatus,
} from './fake-kube-api.js';
export { sampleEndpointSet, type SampleEndpoint } from './endpoint-sets.js';
export { selfSignedServingCertificate, type ServingCertificate } from './fake-kube-tls.js';
