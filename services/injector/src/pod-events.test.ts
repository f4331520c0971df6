import { describe, expect, it } from 'vitest';
import { busValidator } from '@meshbus/bus-schemas';
import type { AdmissionAnswer } from './admission.js';
import { podInjectionEvent } from './pod-events.js';

const context = { replica: 'injector-1', proxyVersion: '0.1.0' };
const request = { uid: 'u-1', dryRun: false };

describe('podInjectionEvent', () => {
  it('says which pod, what was decided and why, in data the bus schema accepts', () => {
    const answer: AdmissionAnswer = {
      status: 200,
      body: {},
      result: { kind: 'skipped', code: 'NotEnabled', reason: 'neither the pod nor namespace shop is annotated meshbus.io/inject: enabled' },
      pod: { namespace: 'shop', name: 'web-*', generateName: 'web-', owner: { kind: 'ReplicaSet', name: 'web-1' } },
      request,
    };
    const event = podInjectionEvent(answer, context)!;
    expect(event).toEqual({
      key: 'shop/web-*',
      data: {
        namespace: 'shop',
        generateName: 'web-',
        owner: { kind: 'ReplicaSet', name: 'web-1' },
        result: 'skipped',
        reason: { code: 'NotEnabled', message: 'neither the pod nor namespace shop is annotated meshbus.io/inject: enabled' },
        proxyVersion: '0.1.0',
        dryRun: false,
        uid: 'u-1',
        replica: 'injector-1',
      },
    });
    expect(() => busValidator().check('podInjection', event.data)).not.toThrow();
  });

  it('names the refused annotation, bounds the message, and gives nothing for an answer about no pod', () => {
    const message = `annotation config.meshbus.io/proxy-image: ${JSON.stringify('x'.repeat(2000))} is not allowed`;
    const refused = podInjectionEvent({ status: 200, body: {}, result: { kind: 'refused', code: 'InvalidAnnotation', annotation: 'config.meshbus.io/proxy-image', message }, pod: { namespace: 'shop', name: 'db-0', podName: 'db-0' }, request }, context)!;
    expect(refused.data.reason.annotation).toBe('config.meshbus.io/proxy-image');
    expect(refused.data.reason.message).toHaveLength(1024);
    expect(refused.data.name).toBe('db-0');
    expect(() => busValidator().check('podInjection', refused.data)).not.toThrow();
    expect(podInjectionEvent({ status: 400, body: { error: 'x' } }, context)).toBeUndefined();
  });
});
