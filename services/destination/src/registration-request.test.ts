import { describe, expect, it } from 'vitest';
import { encodeEvent } from '@meshbus/bus';
import { busValidator, subjects, type BusValidator, type WorkloadRegistration } from '@meshbus/bus-schemas';
import { TokenRejectedError, TokenReviewUnavailableError, type ServiceAccountRef, type TokenValidator } from '@meshbus/trust';
import {
  authenticateRequest,
  authorizeRequest,
  decodeWorkloadRequest,
  RegistrationRequestError,
  type WorkloadRequest,
} from './registration-request.js';

const validator: BusValidator = busValidator();
const registration = { namespace: 'shop', name: 'vm-1', address: '127.0.0.50', ports: [{ name: 'http', port: 8080 }], serviceAccount: 'web', heartbeatIntervalMs: 5000 };

function registerMessage(data: unknown) {
  const permissive = { check: () => undefined } as unknown as typeof validator;
  return encodeEvent('workloadRegisterRequest', subjects.workloadRegister, data as never, { source: '/test', subject: 'shop/vm-1' }, permissive);
}

function refusedWith(work: () => unknown): RegistrationRequestError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(RegistrationRequestError);
    return error as RegistrationRequestError;
  }
  throw new Error('not refused');
}

describe('decodeWorkloadRequest', () => {
  it('returns the registration in a stable shape', () => {
    const { headers, payload } = registerMessage({ token: 't', registration: { ...registration, labels: { b: '2', a: '1' }, opaquePorts: [9, 3] } });
    const request = decodeWorkloadRequest('register', headers, payload, validator);
    expect(request).toMatchObject({ operation: 'register', token: 't', namespace: 'shop', name: 'vm-1' });
    const stored = (request as Extract<WorkloadRequest, { operation: 'register' }>).registration;
    expect(Object.keys(stored.labels!)).toEqual(['a', 'b']);
    expect(stored.opaquePorts).toEqual([3, 9]);
  });

  it('names the field at fault', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ token: 't', registration: { ...registration, zone: 'z'.repeat(600_000) } }, '/registration/zone', /more than 63 characters/],
      [{ token: 't', registration: { ...registration, weight: 2 ** 32 } }, '/registration/weight', /<= 4294967295/],
      [{ token: 't', registration: { ...registration, name: 'Not_A_Name' } }, '/registration/name', /must match pattern/],
      [{ token: 't', registration: { ...registration, labels: { 'bad key!': 'x' } } }, '/registration/labels', /labels key "bad key!" must match pattern/],
      [{ token: 't', registration: { ...registration, ports: Array.from({ length: 65 }, (_, i) => ({ port: i + 1 })) } }, '/registration/ports', /more than 64 items/],
      [{ token: '', registration }, '/token', /fewer than 1 characters/],
    ];
    for (const [data, field, message] of cases) {
      const { headers, payload } = registerMessage(data);
      const error = refusedWith(() => decodeWorkloadRequest('register', headers, payload, validator));
      expect({ code: error.code, field: error.field }).toEqual({ code: 'InvalidRequest', field });
      expect(error.message).toMatch(message);
      expect(error.message.length).toBeLessThanOrEqual(512);
    }
  });

  it('refuses a request of another operation and one that is not a CloudEvent', () => {
    const { headers, payload } = registerMessage({ token: 't', registration });
    expect(refusedWith(() => decodeWorkloadRequest('heartbeat', headers, payload, validator)).message).toMatch(/not expected on meshbus.v1.rpc.workloads.heartbeat/);
    expect(refusedWith(() => decodeWorkloadRequest('register', undefined, new TextEncoder().encode('not json'), validator)).message).toMatch(/missing header ce-specversion/);
  });
});

class FixedTokens implements TokenValidator {
  constructor(private readonly answer: ServiceAccountRef | Error) {}
  async validate(): Promise<ServiceAccountRef> {
    if (this.answer instanceof Error) throw this.answer;
    return this.answer;
  }
}

describe('authenticateRequest and authorizeRequest', () => {
  const request: WorkloadRequest = { operation: 'register', id: '1', token: 't', namespace: 'shop', name: 'vm-1', registration: registration as WorkloadRegistration };
  const heartbeat: WorkloadRequest = { operation: 'heartbeat', id: '2', token: 't', namespace: 'shop', name: 'vm-1' };

  it('maps token failures to Unauthenticated, Unavailable (retryable) and RegistrationDisabled', async () => {
    await expect(authenticateRequest(request, new FixedTokens(new TokenRejectedError('nope')))).rejects.toMatchObject({ code: 'Unauthenticated', field: '/token', retryable: false });
    await expect(authenticateRequest(request, new FixedTokens(new TokenReviewUnavailableError('api down')))).rejects.toMatchObject({ code: 'Unavailable', retryable: true });
    await expect(authenticateRequest(request, undefined)).rejects.toMatchObject({ code: 'RegistrationDisabled', message: expect.stringMatching(/MESHBUS_TOKEN_PUBLIC_KEY/) });
    await expect(authenticateRequest(request, new FixedTokens({ namespace: 'shop', serviceAccount: 'web' }))).resolves.toEqual({ namespace: 'shop', serviceAccount: 'web' });
  });

  it('lets only the workload\'s own service account act for it', () => {
    authorizeRequest(request, { namespace: 'shop', serviceAccount: 'web' }, undefined);
    authorizeRequest(heartbeat, { namespace: 'shop', serviceAccount: 'web' }, registration as WorkloadRegistration);
    expect(refusedWith(() => authorizeRequest(request, { namespace: 'prod', serviceAccount: 'web' }, undefined))).toMatchObject({ code: 'PermissionDenied', field: '/registration/namespace' });
    expect(refusedWith(() => authorizeRequest(request, { namespace: 'shop', serviceAccount: 'api' }, undefined))).toMatchObject({ code: 'PermissionDenied', field: '/registration/serviceAccount' });
    const noAccount: WorkloadRequest = { ...request, registration: { ...(registration as WorkloadRegistration), serviceAccount: undefined } } as WorkloadRequest;
    expect(refusedWith(() => authorizeRequest(noAccount, { namespace: 'shop', serviceAccount: 'web' }, undefined)).message).toMatch(/registers with service account default/);
    expect(refusedWith(() => authorizeRequest(heartbeat, { namespace: 'shop', serviceAccount: 'api' }, registration as WorkloadRegistration))).toMatchObject({ code: 'PermissionDenied', field: '/token' });
  });
});
