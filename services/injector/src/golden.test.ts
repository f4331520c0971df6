import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastJsonPatch from 'fast-json-patch';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { parseAllDocuments, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { injectPod, type InjectionConfig } from './inject.js';
import type { NamespaceInfo, Pod } from './k8s-types.js';
import { testConfig, testGatewayCaPem } from './testdata/config.js';
import { uninjectPod } from './uninject.js';

// Pods in, JSON Patch and patched pod out. testdata/golden/<case>/input.yaml holds the Pod, the
// Namespace it is created in (optional) and a `kind: GoldenOptions` document (optional) changing
// the injector's configuration (cniMode, nativeSidecar, trustAnchorsConfigMap: the anchors from a
// ConfigMap as offline inject does without --trust-anchors, gatewayCa: true). After an intended change, rewrite the
// expected files with
//   UPDATE_GOLDEN=1 npx vitest run --project unit services/injector/src/golden.test.ts
// and read the diff.
const update = process.env.UPDATE_GOLDEN === '1';
const root = fileURLToPath(new URL('../testdata/golden/', import.meta.url));
const cases = readdirSync(root, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

interface GoldenInput {
  pod: Pod;
  namespace: NamespaceInfo;
  config: InjectionConfig;
}

function readInput(name: string): GoldenInput {
  const docs = parseAllDocuments(readFileSync(`${root}${name}/input.yaml`, 'utf8')).map((d) => d.toJS() as Record<string, unknown>);
  const pod = docs.find((d) => d.kind === 'Pod') as Pod | undefined;
  if (!pod) throw new Error(`${name}/input.yaml has no Pod`);
  const ns = docs.find((d) => d.kind === 'Namespace') as { metadata: { name: string; annotations?: Record<string, string> } } | undefined;
  const options = (docs.find((d) => d.kind === 'GoldenOptions') ?? {}) as Partial<InjectionConfig> & { trustAnchorsConfigMap?: string; gatewayCa?: boolean };
  const namespace: NamespaceInfo = ns ? { name: ns.metadata.name, annotations: ns.metadata.annotations ?? {} } : { name: pod.metadata?.namespace ?? 'default', annotations: {} };
  return {
    pod,
    namespace,
    config: {
      ...testConfig,
      ...(options.cniMode !== undefined ? { cniMode: options.cniMode } : {}),
      ...(options.nativeSidecar !== undefined ? { nativeSidecar: options.nativeSidecar } : {}),
      ...(options.trustAnchorsConfigMap !== undefined ? { trustAnchors: { kind: 'configMap', name: options.trustAnchorsConfigMap }, trustRootSha256: 'unknown' } : {}),
      ...(options.gatewayCa === true ? { gatewayCaPem: testGatewayCaPem } : {}),
    },
  };
}

function check(name: string, file: string, actual: string): void {
  const path = `${root}${name}/${file}`;
  if (update || !existsSync(path)) {
    writeFileSync(path, actual);
    return;
  }
  expect(actual, `${name}/${file}`).toBe(readFileSync(path, 'utf8'));
}

describe('golden injections', () => {
  it('has the cases the injector promises', () => {
    for (const c of ['enabled-pod', 'namespace-enabled', 'disabled-in-enabled-namespace', 'native-sidecar', 'cni-mode', 'config-annotations', 'bad-annotation', 'already-injected', 'trust-anchors-configmap', 'gateway-ca']) expect(cases).toContain(c);
  });

  for (const name of cases) {
    it(name, () => {
      const { pod, namespace, config } = readInput(name);
      const result = injectPod(pod, namespace, config);
      const patch = result.kind === 'injected' ? result.patch : [];
      const patched = result.kind === 'injected' ? result.pod : pod;
      const outcome = result.kind === 'injected' ? 'injected\n' : result.kind === 'skipped' ? `skipped: ${result.reason}\n` : `refused: ${result.message}\n`;
      check(name, 'expected-outcome.txt', outcome);
      check(name, 'expected-patch.json', `${JSON.stringify(patch, null, 2)}\n`);
      check(name, 'expected-pod.yaml', stringify(patched, { lineWidth: 0 }));

      // A stock JSON Patch implementation gives the same pod, and leaves the input alone.
      const before = structuredClone(pod);
      const applied = fastJsonPatch.applyPatch(structuredClone(pod), structuredClone(patch) as fastJsonPatch.Operation[], true, false).newDocument;
      expect(applied).toEqual(patched);
      expect(pod).toEqual(before);

      // The patched pod is a valid Kubernetes Pod.
      expect(() => new PodModel(patched as never).validate()).not.toThrow();

      // Injecting again changes nothing; uninjecting gives back the containers and volumes of the input.
      if (result.kind === 'injected') {
        const again = injectPod(patched, namespace, config);
        expect(again.kind).toBe('skipped');
        const back = uninjectPod(patched);
        expect(back.spec).toEqual(pod.spec);
      }
    });
  }
});
