export {
  CertificateClient,
  CertificateClientError,
  CertificateClientErrorCode,
  resolveCertificateClientOptions,
  toWorkloadCertificate,
  type CertificateClientEvents,
  type CertificateClientOptions,
  type WorkloadCertificate,
} from './certificate-client.js';
export {
  DEFAULT_BACKOFF,
  DEFAULT_RENEW_AT,
  MAX_TIMER_DELAY_MS,
  backoffDelayMs,
  isRetryable,
  nextGatewayIndex,
  renewalDelayMs,
  renewalTimeMs,
  waitAfterArrivalMs,
  type BackoffOptions,
  type Validity,
} from './renewal-schedule.js';
