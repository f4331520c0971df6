import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { CommanderError, Option, type Command } from 'commander';
import { natsRoles } from '@meshbus/local-nats';
import { MeshbusError } from '@meshbus/runtime';
import {
  chooseMaterial,
  composeValues,
  customResources,
  defaultControlNamespace,
  formatObjects,
  linkPasswordSecretName,
  natsLeafnodeTlsSecretName,
  readIdentityDir,
  renderInstallation,
  resolveValues,
  uninstallObjects,
  type ExistingMaterial,
  type InstallMaterial,
  type InstallValues,
  type KubeObject,
  type OutputFormat,
} from '@meshbus/install';
import type { LeafnodesInClear } from '@meshbus/install/kubernetes';
import type { CliContext } from '../context.js';
import { usageExitCode } from '../policy-args.js';
import { parseNatsUsers, type DevNatsUsers } from '../dev/nats-users.js';
import { registerServeCommand } from './serve.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

interface RenderFlags {
  ha?: boolean;
  natsUrl?: string;
  values: string[];
  set: string[];
  identityDir?: string;
  natsUsers?: string;
  namespace?: string;
  output: OutputFormat;
  kubeconfig?: string;
}

interface UninstallFlags extends RenderFlags {
  keepCrds?: boolean;
}

/** A flag or value that cannot be used: printed, exit code 2. */
class InstallUsageError extends MeshbusError {
  override name = 'InstallUsageError';
  constructor(message: string) {
    super('InvalidArgument', message);
  }
}

const collect = (value: string, previous: string[]) => [...previous, value];

function renderOptions(command: Command): Command {
  return command
    .option('--ha', 'high availability: 3 replicas per component, PodDisruptionBudgets, anti-affinity, webhook failurePolicy Fail, stream replicas 3')
    .option('--nats-url <url>', 'use this NATS (nats://host:port, comma-separated for several) instead of installing a NATS cluster')
    .option('-f, --values <file>', 'a values file (YAML); several are merged in order', collect, [])
    .option('--set <key=value>', 'set a value (a.b=c, several separated by commas, lists as {x,y}); may be repeated', collect, [])
    .option('--identity-dir <dir>', 'trust anchors and issuer written by `meshbus identity init` (ca.crt, issuer.crt, issuer.key)')
    .option('--nats-users <file>', 'the NATS logins of `meshbus nats-auth --users <file>` (for an external NATS already configured with them)')
    .option('--namespace <ns>', `the control plane's namespace (default ${defaultControlNamespace})`)
    .addOption(new Option('-o, --output <format>', 'yaml (multi-document) or json (a List)').choices(['yaml', 'json']).default('yaml'))
    .exitOverride((error) => {
      // A bad flag is a usage error: 2.
      throw error.exitCode === 1 ? new CommanderError(usageExitCode, error.code, error.message) : error;
    });
}

/** Values given by the dedicated flags; a flag that is not given sets nothing (an upgrade keeps the stored value). */
function flagValues(flags: RenderFlags): InstallValues {
  return {
    ...(flags.ha ? { ha: true } : {}),
    ...(flags.natsUrl !== undefined ? { nats: { url: flags.natsUrl } } : {}),
    ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
  };
}

function valueFiles(flags: RenderFlags, context: CliContext): { source: string; text: string }[] {
  return flags.values.map((file) => {
    try {
      return { source: file, text: readFileSync(resolve(context.cwd, file), 'utf8') };
    } catch (err) {
      throw new InstallUsageError(`-f ${file}: cannot read it: ${(err as Error).message}`);
    }
  });
}

/** Runs a command body; usage and value errors exit 2, a cluster that cannot be read 1. */
async function run(context: CliContext, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (!(err instanceof MeshbusError)) throw err;
    context.stderr.write(`meshbus: ${err.message}\n`);
    const usage = ['InvalidArgument', 'InvalidInstallValue', 'InvalidInstallMaterial'].includes(err.code);
    throw new CommanderError(usage ? usageExitCode : 1, `meshbus.${err.code}`, '');
  }
}

async function identityFrom(flags: RenderFlags, values: InstallValues, context: CliContext) {
  if (flags.identityDir === undefined) return undefined;
  const external = values.identity?.issuer?.external ?? false;
  return readIdentityDir(resolve(context.cwd, flags.identityDir), { anchorsOnly: external, now: new Date() });
}

function natsUsersFrom(flags: RenderFlags, context: CliContext): DevNatsUsers | undefined {
  if (flags.natsUsers === undefined) return undefined;
  const path = resolve(context.cwd, flags.natsUsers);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InstallUsageError(`--nats-users ${flags.natsUsers}: cannot read it: ${(err as Error).message}`);
  }
  try {
    return parseNatsUsers(text, flags.natsUsers);
  } catch (err) {
    throw new InstallUsageError(`--nats-users: ${(err as Error).message}`);
  }
}

interface RenderPlan {
  values: InstallValues;
  material: InstallMaterial;
}

async function plan(flags: RenderFlags, context: CliContext, stored?: { values: InstallValues; material: ExistingMaterial }): Promise<RenderPlan> {
  const values = composeValues({ ...(stored ? { stored: stored.values } : {}), files: valueFiles(flags, context), sets: flags.set, flags: flagValues(flags) });
  const identity = await identityFrom(flags, values, context);
  const natsUsers = natsUsersFrom(flags, context);
  const material = chooseMaterial({
    values,
    version,
    ...(identity ? { identity } : {}),
    ...(natsUsers ? { natsUsers } : {}),
    ...(stored ? { existing: stored.material } : {}),
    now: new Date(),
  });
  return { values, material };
}

async function loadKubeConfig(flags: { kubeconfig?: string }, context: CliContext) {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  const file = flags.kubeconfig ?? context.env.KUBECONFIG?.split(':')[0];
  try {
    if (file !== undefined && file !== '') kc.loadFromFile(resolve(context.cwd, file));
    else kc.loadFromDefault();
  } catch (err) {
    throw new InstallUsageError(`cannot load the kubeconfig${file ? ` ${file}` : ''}: ${(err as Error).message}`);
  }
  if (kc.getCurrentCluster() === null) throw new InstallUsageError('the kubeconfig names no current cluster; give --kubeconfig or set KUBECONFIG');
  return kc;
}

async function readInstalled(flags: RenderFlags, context: CliContext) {
  const [{ CoreV1Api }, { readInstalledState }] = await Promise.all([import('@kubernetes/client-node'), import('@meshbus/install/kubernetes')]);
  const kc = await loadKubeConfig(flags, context);
  return readInstalledState(kc.makeApiClient(CoreV1Api), flags.namespace ?? defaultControlNamespace);
}

function kept(existing: ExistingMaterial, material: InstallMaterial): string[] {
  const out: string[] = [];
  if (existing.identity?.issuer && existing.identity.issuer.certificatePem === material.identity.issuer?.certificatePem) out.push('the issuer');
  if (existing.identity && existing.identity.trustAnchorsPem === material.identity.trustAnchorsPem) out.push('the trust anchors');
  if (existing.injectorTls && existing.injectorTls.caPem === material.injectorTls.caPem) out.push('the webhook CA and certificate');
  if (existing.gatewayTls && existing.gatewayTls.certificatePem === material.gatewayTls?.certificatePem) out.push('the gateway certificate');
  if (existing.leafnodeTls && existing.leafnodeTls.caPem === material.leafnodeTls?.caPem) {
    out.push(existing.leafnodeTls.certificatePem === material.leafnodeTls.certificatePem ? 'the leaf node CA and certificate' : 'the leaf node CA (new certificate)');
  }
  const logins = Object.entries(existing.natsUsers ?? {}).filter(([role, login]) => material.natsUsers[role as keyof InstallMaterial['natsUsers']]?.password === login?.password);
  if (logins.length > 0) out.push(`${logins.length} NATS logins`);
  const links = Object.entries(existing.linkPasswords ?? {}).filter(([cluster, password]) => material.linkPasswords?.[cluster] === password);
  if (links.length > 0) out.push(`the link login${links.length === 1 ? '' : 's'} of ${links.map(([cluster]) => cluster).join(', ')}`);
  return out;
}

/** What the upgrade keeps in clear (as it runs) of an installation made before leaf node TLS, unless the given values turn TLS on. */
function inClearWarnings(inClear: LeafnodesInClear | undefined, values: InstallValues): string[] {
  const mc = resolveValues(values, version).multicluster;
  if (!inClear || !mc) return [];
  const out: string[] = [];
  if (inClear.listener && mc.leafnode.tls === undefined && mc.exportTo.length > 0) {
    out.push(
      `the leaf node listener stays in clear, as it runs (the installation predates leaf node TLS): the link passwords and the exports of ${mc.exportTo.join(', ')} cross the network unencrypted. ` +
        `To turn TLS on: \`meshbus upgrade --set multicluster.leafnode.tls.enabled=true | kubectl apply -f -\` here (give the hosts linked clusters connect to with --set multicluster.leafnode.tls.hosts={...}), ` +
        `then in each of ${mc.exportTo.join(', ')} put ca.crt of Secret ${natsLeafnodeTlsSecretName} under key ca.crt of its link Secret (${linkPasswordSecretName(mc.clusterName)}) and upgrade it with the link's tls.enabled: true (docs/kubernetes.md#multicluster)`,
    );
  }
  for (const cluster of inClear.links) {
    const link = mc.links.find((l) => l.cluster === cluster);
    if (!link || link.tls !== undefined) continue;
    out.push(
      `the leaf node link to ${cluster} stays in clear, as it runs (the installation predates leaf node TLS): its password and the exports cross the network unencrypted. ` +
        `To turn TLS on once ${cluster} serves it (multicluster.leafnode.tls.enabled=true there): put ca.crt of ${cluster}'s Secret ${natsLeafnodeTlsSecretName} under key ca.crt of Secret ${link.passwordSecret.name} here, ` +
        `and upgrade with -f a values file whose multicluster.links entry for ${cluster} has tls.enabled: true and a tls:// url (docs/kubernetes.md#multicluster)`,
    );
  }
  return out;
}

/**
 * `meshbus install`, `meshbus upgrade` and `meshbus uninstall`: the objects of
 * a Kubernetes installation, printed for `kubectl apply -f -` (or delete);
 * and `meshbus serve <component>`, what the installed Deployments run.
 */
export function registerInstallCommands(program: Command, context: CliContext): void {
  renderOptions(
    program
      .command('install')
      .description('print the Kubernetes objects of a meshbus installation (apply with `meshbus install | kubectl apply -f -`)')
      .addHelpText('after', '\nExamples:\n  $ meshbus identity init --dir ./identity\n  $ meshbus install --identity-dir ./identity | kubectl apply -f -\n  $ meshbus install --ha --set nats.storage.size=50Gi | kubectl apply -f -\n\nSee docs/kubernetes.md for the values. Exit codes: 0 printed, 2 bad flags or values.'),
  ).action((flags: RenderFlags) =>
    run(context, async () => {
      const { values, material } = await plan(flags, context);
      if (flags.identityDir === undefined && !(values.identity?.issuer?.external ?? false)) {
        context.stderr.write('meshbus: no --identity-dir: a new trust anchor and issuer were generated; the anchor key is not kept, so rotate with `meshbus identity init` material later\n');
      }
      context.stdout.write(formatObjects(renderInstallation({ values, material, version }), flags.output));
    }),
  );

  renderOptions(
    program
      .command('upgrade')
      .description('print the objects of the running installation re-rendered with this version and the given flags, keeping its keys and values')
      .option('--kubeconfig <file>', 'the kubeconfig to read the installation with (default $KUBECONFIG or ~/.kube/config)')
      .addHelpText('after', '\nExamples:\n  $ meshbus upgrade | kubectl apply -f -\n  $ meshbus upgrade --set logLevel=debug | kubectl apply -f -\n\nThe values stored in ConfigMap meshbus-install-values are the base; -f, --set and flags go over them.\nThe issuer, trust anchors, webhook CA and NATS logins are kept (--identity-dir replaces the issuer).'),
  ).action((flags: RenderFlags) =>
    run(context, async () => {
      const installed = await readInstalled(flags, context);
      const { values, material } = await plan(flags, context, installed);
      const from = flags.namespace ?? defaultControlNamespace;
      if (resolveValues(values, version).namespace !== from) {
        throw new InstallUsageError(`upgrade cannot move the installation from namespace ${from}; uninstall and install again`);
      }
      for (const line of inClearWarnings(installed.inClear, values)) context.stderr.write(`meshbus: warning: ${line}\n`);
      const keptParts = kept(installed.material, material);
      context.stderr.write(`meshbus: upgrading the installation in ${from}${installed.version ? ` from ${installed.version}` : ''} to ${version}${keptParts.length > 0 ? `; kept ${keptParts.join(', ')}` : ''}\n`);
      context.stdout.write(formatObjects(renderInstallation({ values, material, version }), flags.output));
    }),
  );

  renderOptions(
    program
      .command('uninstall')
      .description('print the objects of the installation for `kubectl delete -f -` (CustomResourceDefinitions last)')
      .option('--kubeconfig <file>', 'read the values of the running installation with this kubeconfig (otherwise the flags say what was installed)')
      .option('--keep-crds', 'leave the CustomResourceDefinitions (and so every Server, AuthorizationPolicy, ... resource) in place'),
  ).action((flags: UninstallFlags) =>
    run(context, async () => {
      const stored = flags.kubeconfig !== undefined ? await readInstalled(flags, context) : undefined;
      const values = composeValues({ ...(stored ? { stored: stored.values } : {}), files: valueFiles(flags, context), sets: flags.set, flags: flagValues(flags) });
      const material = placeholderMaterial(values);
      // Everything an installation with these values may hold, in HA or not, so nothing is left over.
      const variants: InstallValues[] = [values, { ...values, ha: true, gateway: { tls: true }, identity: { ...values.identity, issuer: { external: false } } }];
      const seen = new Set<string>();
      const objects: KubeObject[] = [];
      for (const variant of variants) {
        for (const o of renderInstallation({ values: variant, material, version })) {
          const key = `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
          if (!seen.has(key)) {
            seen.add(key);
            objects.push(o);
          }
        }
      }
      const removed = uninstallObjects(objects).filter((o) => !(flags.keepCrds && o.kind === 'CustomResourceDefinition'));
      if (!flags.keepCrds) {
        context.stderr.write(
          `meshbus: warning: deleting the ${customResources.length} CustomResourceDefinitions deletes every ${customResources.map((r) => r.kind).join(', ')} in the cluster; give --keep-crds to keep them\n`,
        );
      }
      context.stderr.write('meshbus: delete with `kubectl delete --ignore-not-found -f -` (objects this installation did not create are listed too, for HA and the bundled NATS)\n');
      context.stdout.write(formatObjects(removed, flags.output));
    }),
  );

  registerServeCommand(program, context);
}

/** Stand-ins for key material where only the objects' names matter. */
function placeholderMaterial(values: InstallValues): InstallMaterial {
  const none = { caPem: '', certificatePem: '', privateKeyPem: '' };
  const exportTo = values.multicluster?.exportTo ?? [];
  return {
    ...(exportTo.length > 0 ? { linkPasswords: Object.fromEntries(exportTo.map((cluster) => [cluster, 'unused'])) } : {}),
    identity: { trustAnchorsPem: '', issuer: { certificatePem: '', privateKeyPem: '' } },
    injectorTls: none,
    gatewayTls: none,
    leafnodeTls: { ...none, caKeyPem: '' },
    natsUsers: Object.fromEntries(natsRoles.map((role) => [role, { user: role, password: 'unused' }])) as InstallMaterial['natsUsers'],
  };
}
