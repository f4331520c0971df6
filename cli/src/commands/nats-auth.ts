import { resolve } from 'node:path';
import type { Command } from 'commander';
import { clusterNameRule, isClusterName } from '@meshbus/core';
import { natsAuthorizationConfig } from '@meshbus/local-nats';
import { parsedBy } from '../commander-parsers.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { loadOrCreateNatsUsersFile, natsUserList } from '../dev/nats-users.js';

/** `east,north`: the clusters this one is linked to. */
function parseLinks(text: string): string[] {
  const links = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const l of links) if (!isClusterName(l)) throw new UsageError(`${JSON.stringify(l)} must be a cluster name: ${clusterNameRule}`);
  return [...new Set(links)];
}

const examples = `
Examples:
  $ meshbus nats-auth --users /etc/meshbus/nats-users.json > /etc/nats/meshbus-auth.conf
  then, in nats-server.conf:   include ./meshbus-auth.conf`;

/**
 * `meshbus nats-auth`: the nats-server authorization block for an external
 * NATS, one user per meshbus role with least-privilege permissions.
 */
export function registerNatsAuthCommand(program: Command, context: CliContext): void {
  program
    .command('nats-auth')
    .description('print the nats-server authorization block (a user per meshbus role) for an external NATS')
    .option('--users <file>', 'users file (JSON, role → user and password); created with random passwords, mode 0600, if missing', 'nats-users.json')
    .option('--links <clusters>', 'clusters this one is linked to (comma separated): the multicluster and reader users may set up or read their link streams MESHBUS_LINK_<CLUSTER>', parsedBy(parseLinks))
    .addHelpText('after', examples)
    .action(async (flags: { users: string; links?: string[] }) => {
      const path = resolve(context.cwd, flags.users);
      const users = await loadOrCreateNatsUsersFile(path);
      const links = flags.links ?? [];
      const list = natsUserList(users).map((u) => (links.length > 0 && (u.role === 'multicluster' || u.role === 'reader') ? { ...u, links } : u));
      context.stdout.write(natsAuthorizationConfig(list));
      context.stderr.write(`users and passwords: ${path} (give each service NATS_USER/NATS_PASSWORD of its role)\n`);
    });
}
