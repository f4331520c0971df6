import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { meshbusVersion } from '@meshbus/core';
import type { InjectionConfig } from '@meshbus/injector';
import type { CliContext } from '../context.js';
import { InjectInputError, transformYaml, trustRootHash } from '../inject-yaml.js';

const usageExitCode = 2;

interface InjectFlags {
  proxyImage: string;
  proxyVersion: string;
  gateway?: string[];
  gatewayTlsName?: string;
  controlNamespace: string;
  clusterDomain: string;
  trustAnchors?: string;
  trustAnchorsConfigmap: string;
  gatewayCa?: string;
  cni?: boolean;
  nativeSidecar?: boolean;
}

function readInput(file: string | undefined, stdin: () => string): string {
  if (file === undefined || file === '-') return stdin();
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new InjectInputError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

function fail(context: CliContext, message: string): never {
  context.stderr.write(`meshbus: ${message}\n`);
  const error = new InvalidArgumentError(message);
  error.exitCode = usageExitCode;
  throw error;
}

function readPem(flag: string, file: string, context: CliContext): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    fail(context, `${flag}: cannot read ${file}: ${(err as Error).message}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) fail(context, `${flag}: ${file} holds no PEM certificate`);
  return text;
}

function injectionConfig(flags: InjectFlags, context: CliContext): InjectionConfig {
  // With the anchors at hand the proxy gets them in its environment, as from the webhook; without,
  // it mounts them from a ConfigMap that must exist in the pod's namespace.
  const anchorsPem = flags.trustAnchors !== undefined ? readPem('--trust-anchors', flags.trustAnchors, context) : undefined;
  const gatewayCaPem = flags.gatewayCa !== undefined ? readPem('--gateway-ca', flags.gatewayCa, context) : undefined;
  return {
    proxyImage: flags.proxyImage,
    proxyVersion: flags.proxyVersion,
    gateways: flags.gateway ?? [`meshbus-gateway.${flags.controlNamespace}.svc.${flags.clusterDomain}:8086`],
    ...(flags.gatewayTlsName !== undefined ? { gatewayTlsName: flags.gatewayTlsName } : {}),
    controlNamespace: flags.controlNamespace,
    clusterDomain: flags.clusterDomain,
    identityAudience: 'identity.meshbus.io',
    tokenExpirationSeconds: 86_400,
    trustAnchors: anchorsPem !== undefined ? { kind: 'pem', pem: anchorsPem } : { kind: 'configMap', name: flags.trustAnchorsConfigmap },
    trustRootSha256: anchorsPem !== undefined ? trustRootHash(anchorsPem) : 'unknown',
    ...(gatewayCaPem !== undefined ? { gatewayCaPem } : {}),
    cniMode: flags.cni === true,
    nativeSidecar: flags.nativeSidecar === true,
    defaults: { logLevel: 'info', logFormat: 'json', cpuRequest: '100m', memoryRequest: '64Mi', memoryLimit: '256Mi', shutdownGracePeriod: '30s', accessLog: 'off' },
    injectedBy: `meshbus-cli/${meshbusVersion}`,
  };
}

/**
 * Registers `meshbus inject` and `meshbus uninject`: the injector's transformation offline, on
 * YAML from a file or stdin, printed to stdout. `stdin` reads all of standard input (tests give text).
 */
export function registerInjectCommands(program: Command, context: CliContext, stdin: () => string = () => readFileSync(0, 'utf8')): void {
  const run = (mode: 'inject' | 'uninject') => (file: string | undefined, flags: InjectFlags) => {
    let text: string;
    try {
      text = readInput(file, stdin);
      const { output, reports } = transformYaml(text, mode, injectionConfig(flags, context));
      context.stdout.write(output);
      for (const r of reports) context.stderr.write(`${r.object}: ${r.outcome}\n`);
    } catch (err) {
      if (err instanceof InjectInputError) fail(context, err.message);
      throw err;
    }
  };
  const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
  program
    .command('inject')
    .description('add the meshbus proxy to the pods and pod templates of Kubernetes YAML (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, Pods, Lists), as the injector webhook does; prints the result')
    .argument('[file]', 'YAML file, several documents allowed; - or nothing reads stdin')
    .option('--proxy-image <repository>', 'proxy image without tag', 'ghcr.io/meshbus/meshbus')
    .option('--proxy-version <tag>', 'proxy image tag', meshbusVersion)
    .option('--gateway <host:port>', 'gateway address the proxy uses; repeat for several (default: meshbus-gateway.<control-namespace>.svc.<cluster-domain>:8086)', collect)
    .option('--gateway-tls-name <name>', "name checked in the gateways' certificates")
    .option('--control-namespace <ns>', "the control plane's namespace", 'meshbus')
    .option('--cluster-domain <domain>', 'cluster domain', 'cluster.local')
    .option('--trust-anchors <file>', "trust anchors PEM: put into the proxy's environment and hashed into the meshbus.io/trust-root-sha256 annotation, as the webhook does")
    .option('--trust-anchors-configmap <name>', 'without --trust-anchors: the ConfigMap holding ca.crt, mounted from the pod\'s namespace', 'meshbus-trust-anchors')
    .option('--gateway-ca <file>', "PEM of the CA of the gateways' certificates, put into the proxy's environment (default: the system trust store)")
    .option('--cni', 'the meshbus CNI plugin sets up the pod network: no proxy-init container')
    .option('--native-sidecar', 'run the proxy as a native sidecar (Kubernetes 1.29+)')
    .action(run('inject'));
  program
    .command('uninject')
    .description('take the meshbus proxy out of Kubernetes YAML injected by `meshbus inject` or the webhook; prints the result')
    .argument('[file]', 'YAML file, several documents allowed; - or nothing reads stdin')
    .action((file: string | undefined) => run('uninject')(file, { proxyImage: '', proxyVersion: '', controlNamespace: 'meshbus', clusterDomain: 'cluster.local', trustAnchorsConfigmap: '' }));
}
