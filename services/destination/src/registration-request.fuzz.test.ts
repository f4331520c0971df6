import { fc } from '@fast-check/vitest';
import { headers as natsHeaders } from 'nats';
import { describe, expect } from 'vitest';
import { encodeEvent } from '@meshbus/bus';
import { busValidator, subjects, type BusValidator } from '@meshbus/bus-schemas';
import { fuzzProperty } from '@meshbus/property-testing';
import { decodeWorkloadRequest, errorReply, RegistrationRequestError, type RegistrationOperation, type WorkloadRequest } from './registration-request.js';

// Registration, heartbeat and deregistration requests come from any `workload` login: whatever
// bytes and headers arrive, the decoder returns a request that passes the schema or refuses it
// with an InvalidRequest error whose reply is itself a valid bus message.

const validator: BusValidator = busValidator();

function refusal(work: () => unknown): RegistrationRequestError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(RegistrationRequestError);
    return error as RegistrationRequestError;
  }
  throw new Error('not refused');
}

const headerName = fc.oneof(
  fc.constantFrom('ce-specversion', 'ce-id', 'ce-source', 'ce-type', 'ce-time', 'ce-subject', 'content-type'),
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/),
);
const headerValue = fc.oneof(
  fc.constantFrom('1.0', 'io.meshbus.v1.workload.register.request', 'io.meshbus.v1.workload.heartbeat.request', 'application/json'),
  fc.string({ unit: 'grapheme-ascii', maxLength: 300 }).map((s) => s.replace(/[\r\n]/g, '')),
);

describe('workload registration requests', () => {
  fuzzProperty(
    'arbitrary bytes and headers are refused as InvalidRequest, with a bounded message and a reply the schema accepts',
    [fc.constantFrom<RegistrationOperation>('register', 'heartbeat', 'deregister'), fc.uint8Array({ maxLength: 4096 }), fc.dictionary(headerName, headerValue, { maxKeys: 10 })],
    (operation, body, hdrs) => {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(hdrs)) if (v.trim() !== '') h.set(k, v);
      const error = refusal(() => decodeWorkloadRequest(operation, h, body, validator));
      expect(error.code).toBe('InvalidRequest');
      expect(error.message.length).toBeLessThanOrEqual(512);
      validator.check('workloadRegistrationReply', errorReply(error));
    },
    { runs: 500 },
  );

  fuzzProperty(
    'arbitrary JSON data with valid headers is a request the schema accepts, or refused',
    [fc.jsonValue({ maxDepth: 4 })],
    (data) => {
      const permissive = { check: () => undefined } as unknown as BusValidator;
      const { headers, payload } = encodeEvent('workloadRegisterRequest', subjects.workloadRegister, data as never, { source: '/test', subject: 'shop/vm-1' }, permissive);
      try {
        const request = decodeWorkloadRequest('register', headers, payload, validator);
        validator.check('workloadRegisterRequest', { token: request.token, registration: (request as Extract<WorkloadRequest, { operation: 'register' }>).registration });
      } catch (error) {
        expect(error).toBeInstanceOf(RegistrationRequestError);
        validator.check('workloadRegistrationReply', errorReply(error));
      }
    },
    { runs: 500 },
  );
});
