import { resolve } from 'node:path';
import type { Command } from 'commander';
import { natsAuthorizationConfig } from '@meshbus/local-nats';
import type { CliContext } from '../context.js';
import { loadOrCreateNatsUsersFile, natsUserList } from '../dev/nats-users.js';

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
    .addHelpText('after', examples)
    .action(async (flags: { users: string }) => {
      const path = resolve(context.cwd, flags.users);
      const users = await loadOrCreateNatsUsersFile(path);
      context.stdout.write(natsAuthorizationConfig(natsUserList(users)));
      context.stderr.write(`users and passwords: ${path} (give each service NATS_USER/NATS_PASSWORD of its role)\n`);
    });
}
