import { describe, expect, it } from 'vitest';
import type { PolicyStatus } from '@meshbus/bus-schemas';
import { checkExitCode, checkPolicies, formatPolicyCheck, policyCheckJson, rejectionReason } from './policy-check-format.js';

const accepted = (namespace: string, kind: string, name: string, file: string): PolicyStatus => ({
  kind,
  namespace,
  name,
  file,
  accepted: true,
  conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'accepted' }],
});

const badCidr: PolicyStatus = {
  kind: 'NetworkAuthentication',
  namespace: 'shop',
  name: 'office',
  file: 'shop/policy.yaml',
  accepted: false,
  conditions: [{ type: 'Accepted', status: 'False', reason: 'InvalidResource', message: 'networks[0].cidr "10.0.0.0/33" is not a CIDR' }],
};
const orphanRoute: PolicyStatus = {
  kind: 'HTTPRoute',
  namespace: 'bank',
  name: 'teller-api',
  file: 'bank/routes.yaml',
  accepted: false,
  conditions: [
    { type: 'Accepted', status: 'False', reason: 'UnresolvedParent', message: 'parent' },
    { type: 'ResolvedRefs', status: 'False', reason: 'UnknownReference', message: 'parentRefs[0]: Server bank/teller does not exist' },
  ],
};
const statuses = [badCidr, accepted('shop', 'Server', 'web-http', 'shop/policy.yaml'), orphanRoute, accepted('bank', 'Server', 'teller', 'bank/policy.yaml')];

describe('meshbus policy check', () => {
  it('lists the rejected resources by file with resource and reason, then the counts; exit code 1', () => {
    const check = checkPolicies(statuses, true);
    expect(formatPolicyCheck(check)).toBe(
      [
        'FILE              RESOURCE                           REASON',
        'bank/routes.yaml  HTTPRoute bank/teller-api          UnresolvedParent: parent; UnknownReference: parentRefs[0]: Server bank/teller does not exist',
        'shop/policy.yaml  NetworkAuthentication shop/office  InvalidResource: networks[0].cidr "10.0.0.0/33" is not a CIDR',
        '2 rejected, 2 accepted',
        '',
      ].join('\n'),
    );
    expect(checkExitCode(check)).toBe(1);
  });

  it('narrows to one namespace; all accepted is exit code 0', () => {
    const check = checkPolicies([accepted('shop', 'Server', 'web-http', 'a.yaml'), orphanRoute], true, 'shop');
    expect(formatPolicyCheck(check)).toBe('0 rejected, 1 accepted in namespace shop\n');
    expect(checkExitCode(check)).toBe(0);
  });

  it('tells no resources (the service runs) from nothing published (exit code 1)', () => {
    const none = checkPolicies([], true);
    expect(formatPolicyCheck(none)).toBe('no policy or route resources\n');
    expect(checkExitCode(none)).toBe(0);
    const silent = checkPolicies([], false);
    expect(formatPolicyCheck(silent)).toMatch(/^nothing to check: the policy service has published no status and no defaults/);
    expect(checkExitCode(silent)).toBe(1);
  });

  it('gives the JSON form with counts and each rejection with its reason', () => {
    expect(policyCheckJson(checkPolicies([badCidr, accepted('shop', 'Server', 'web', 'a.yaml')], true))).toEqual({
      published: true,
      acceptedCount: 1,
      conflictedCount: 0,
      rejectedCount: 1,
      rejected: [{ ...badCidr, reason: 'InvalidResource: networks[0].cidr "10.0.0.0/33" is not a CIDR' }],
      conflicted: [],
    });
  });

  it('lists a Server in conflict beside the rejected ones, says the same reason once, and exits 1', () => {
    const loser: PolicyStatus = {
      kind: 'Server',
      namespace: 'shop',
      name: 'web-b',
      file: 'b.yaml',
      accepted: true,
      conditions: [
        { type: 'Accepted', status: 'True', reason: 'Accepted', message: '' },
        { type: 'Conflicted', status: 'True', reason: 'Conflict', message: 'port 8080 of workload shop/web-1 is taken by Server shop/web-a' },
      ],
      affects: 0,
    };
    const dangling: PolicyStatus = {
      kind: 'AuthorizationPolicy',
      namespace: 'shop',
      name: 'dangling',
      file: 'a.yaml',
      accepted: false,
      conditions: [
        { type: 'Accepted', status: 'False', reason: 'UnknownReference', message: 'MeshTLSAuthentication shop/nobody does not exist' },
        { type: 'ResolvedRefs', status: 'False', reason: 'UnknownReference', message: 'MeshTLSAuthentication shop/nobody does not exist' },
      ],
    };
    const check = checkPolicies([loser, dangling, accepted('shop', 'Server', 'web-a', 'a.yaml')], true);
    expect(check.conflicted).toEqual([loser]);
    expect(checkExitCode(check)).toBe(1);
    expect(formatPolicyCheck(check)).toBe(
      [
        'FILE    RESOURCE                           REASON',
        'a.yaml  AuthorizationPolicy shop/dangling  UnknownReference: MeshTLSAuthentication shop/nobody does not exist',
        'b.yaml  Server shop/web-b                  Conflict: port 8080 of workload shop/web-1 is taken by Server shop/web-a',
        '1 rejected, 1 in conflict, 1 accepted',
        '',
      ].join('\n'),
    );
  });

  it('takes a Conflicted condition that is True as the reason', () => {
    const conflicted: PolicyStatus = {
      ...badCidr,
      conditions: [
        { type: 'Accepted', status: 'True', reason: 'Accepted', message: '' },
        { type: 'Conflicted', status: 'True', reason: 'Conflict', message: 'Server shop/web-b selects the same port' },
      ],
    };
    expect(rejectionReason(conflicted)).toBe('Conflict: Server shop/web-b selects the same port');
    expect(rejectionReason({ ...badCidr, conditions: [] })).toBe('rejected (no condition given)');
  });
});
