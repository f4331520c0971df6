import { injectPod, type InjectionConfig, type InjectionResult } from './inject.js';
import type { NamespaceInfo, Pod } from './k8s-types.js';

/** Where the webhook learns a namespace's annotations (the manifests folder in local mode; an informer later). */
export interface NamespaceLookup {
  /** The namespace, or undefined when it is not known (then it has no annotations). */
  get(name: string): Promise<NamespaceInfo | undefined>;
}

/** What the webhook answers: an HTTP status and a JSON body. */
export interface AdmissionAnswer {
  readonly status: number;
  readonly body: unknown;
  /** The decision, for logs and metrics (absent when the request was unreadable). */
  readonly result?: InjectionResult;
  readonly pod?: { readonly namespace: string; readonly name: string };
}

function badRequest(message: string): AdmissionAnswer {
  return { status: 400, body: { error: message } };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Answers one AdmissionReview (admission.k8s.io/v1) for a pod CREATE. Unreadable requests get a
 * 400 naming what is wrong; anything else is allowed, with a JSON Patch when the pod is injected,
 * except a pod whose configuration annotations are refused.
 */
export async function reviewAdmission(text: string, namespaces: NamespaceLookup, config: InjectionConfig): Promise<AdmissionAnswer> {
  let review: unknown;
  try {
    review = JSON.parse(text);
  } catch {
    return badRequest('the body is not JSON; expected an AdmissionReview (admission.k8s.io/v1)');
  }
  if (!isObject(review) || review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
    return badRequest('the body is not an AdmissionReview of apiVersion admission.k8s.io/v1');
  }
  const request = review.request;
  if (!isObject(request)) return badRequest('the AdmissionReview has no request');
  const uid = request.uid;
  if (typeof uid !== 'string' || uid === '') return badRequest('request.uid is missing');
  const respond = (response: Record<string, unknown>, extra: Partial<AdmissionAnswer> = {}): AdmissionAnswer => ({
    status: 200,
    body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...response } },
    ...extra,
  });

  const kind = request.kind;
  const operation = request.operation;
  if (!isObject(kind) || kind.kind !== 'Pod' || (kind.group ?? '') !== '' || operation !== 'CREATE') {
    // Only pod creations are changed; anything else the webhook is sent passes as it is.
    return respond({ allowed: true });
  }
  const pod = request.object;
  if (!isObject(pod) || !isObject(pod.spec) || !Array.isArray(pod.spec.containers) || pod.spec.containers.length === 0) {
    return badRequest('request.object is not a Pod with spec.containers');
  }
  const namespaceName = typeof request.namespace === 'string' && request.namespace !== '' ? request.namespace : ((pod.metadata as { namespace?: string } | undefined)?.namespace ?? 'default');
  const meta = (pod.metadata ?? {}) as { name?: string; generateName?: string };
  const podRef = { namespace: namespaceName, name: meta.name ?? `${meta.generateName ?? ''}*` };
  const namespace = (await namespaces.get(namespaceName)) ?? { name: namespaceName, annotations: {} };
  const result = injectPod(pod as unknown as Pod, namespace, config);
  switch (result.kind) {
    case 'injected':
      return respond({ allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(result.patch)).toString('base64') }, { result, pod: podRef });
    case 'skipped':
      return respond({ allowed: true }, { result, pod: podRef });
    case 'refused':
      return respond({ allowed: false, status: { code: 400, reason: 'BadRequest', message: result.message } }, { result, pod: podRef });
  }
}
