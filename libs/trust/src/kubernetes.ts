// Kept apart from index.ts so that importing the library does not load @kubernetes/client-node.
export { TokenReviewValidator, describeApiError, type TokenReviewValidatorOptions } from './token-validator-kubernetes.js';
