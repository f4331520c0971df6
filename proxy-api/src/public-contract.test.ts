import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The saved wire contract of the public proxy API (public-contract.txt) is
// compared with proxy-api/proto by the same script developers run against a
// checkout of the public definitions, so CI notices a field that drifts
// without network access.

const run = promisify(execFile);
const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const script = join(packageDir, 'scripts', 'compare-public.mjs');

async function compare(contract: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [script, '--contract', contract], { cwd: packageDir });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('the public proxy API contract', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'proxy-api-contract-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is present, field for field, in our definitions', async () => {
    const result = await compare(join(packageDir, 'public-contract.txt'));
    expect(result.stdout).not.toMatch(/^(missing|different):/m);
    expect(result.stdout).toMatch(/every public element is present and identical \(\d{3,} compared\)/);
    expect(result.code).toBe(0);
  }, 30_000);

  it('names a public field that ours lacks or numbers differently, and fails', async () => {
    const saved = await readFile(join(packageDir, 'public-contract.txt'), 'utf8');
    const changed = saved
      .replace(
        'field .io.linkerd.proxy.destination.AddrSet.addrs = 1 ',
        'field .io.linkerd.proxy.destination.AddrSet.addrs = 9 ',
      )
      .concat('field .io.linkerd.proxy.destination.AddrSet.invented = 2 LABEL_OPTIONAL TYPE_STRING\n');
    expect(changed).not.toBe(saved);
    const file = join(dir, 'changed.txt');
    await writeFile(file, changed);
    const result = await compare(file);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('missing:   field .io.linkerd.proxy.destination.AddrSet.invented = 2 LABEL_OPTIONAL TYPE_STRING');
    expect(result.stdout).toMatch(/different: field \.io\.linkerd\.proxy\.destination\.AddrSet\.addrs: public = 9 .*, ours = 1 /);
    expect(result.stdout).toContain('2 public element(s) missing or different');
  }, 30_000);

  it('refuses a contract file that is not one', async () => {
    const file = join(dir, 'bad.txt');
    await writeFile(file, '# nothing\nthis is not a contract line at all, really\n');
    const result = await compare(file);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/bad\.txt:2: not a contract line/);
  }, 30_000);
});
