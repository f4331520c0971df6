import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { componentArgs, components, controlPlaneUid } from '@meshbus/install';
import type { CliContext } from './context.js';
import { createProgram } from './program.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

const context: CliContext = {
  env: {},
  cwd: '/nonexistent',
  stdout: { write: () => true },
  stderr: { write: () => true },
  signal: new AbortController().signal,
};

/** The image's ENTRYPOINT as an array. */
function entrypoint(): string[] {
  const line = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
  if (!line) throw new Error('the Dockerfile has no ENTRYPOINT');
  return JSON.parse(line.slice('ENTRYPOINT '.length)) as string[];
}

describe('the meshbus image (Dockerfile)', () => {
  it('runs the CLI, whose built entry point is where the image expects it', () => {
    const [node, script] = entrypoint();
    expect(node).toBe('node');
    expect(script).toBe('/app/cli/dist/main.js');
    expect(existsSync(join(root, script!.replace(/^\/app\//, '')).replace('/dist/', '/src/').replace(/\.js$/, '.ts'))).toBe(true);
  });

  it('has the commands the installed Deployments and the injected containers run', () => {
    const program = createProgram(context);
    const names = new Set(program.commands.map((c) => c.name()));
    for (const component of components) expect(names.has(componentArgs(component)[0]!), `meshbus ${componentArgs(component).join(' ')}`).toBe(true);
    const serve = program.commands.find((c) => c.name() === 'serve');
    expect(serve?.registeredArguments[0]?.argChoices ?? components).toEqual(expect.arrayContaining([...components]));
    expect(names.has('proxy')).toBe(true);
    expect(names.has('proxy-init')).toBe(true);
  });

  it('runs as the non-root user the installation sets, and keeps the build tools out of the final image', () => {
    expect(dockerfile).toMatch(new RegExp(`^USER ${controlPlaneUid}:${controlPlaneUid}$`, 'm'));
    expect(dockerfile).toContain(`--uid ${controlPlaneUid}`);
    const stages = dockerfile.split('\n').filter((l) => l.startsWith('FROM '));
    expect(stages).toHaveLength(2);
    expect(dockerfile).toContain('npm prune --omit=dev');
  });
});
