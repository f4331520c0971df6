export { anyFailed, fail, pass, runChecks, skip, warn, type Check, type CheckOutcome, type CheckResult, type CheckStatus, type RunChecksOptions } from './model.js';
export { CheckTextWriter, checkReport, summaryLine, type CheckReport } from './format.js';
export { ClusterReader, KubeApiError, objectPath, serviceProxyPath } from './cluster.js';
export { kubeHttpFor, type KubeHttp, type KubeRequest, type KubeResponse } from './kube-http.js';
export { Category, parseInstallValues, type CheckContext, type ClusterCheck, type InstallValues } from './context.js';
export { natsGreeting, type NatsGreeting } from './nats-greeting.js';
export { selectChecks, type CheckSelection } from './checks.js';
