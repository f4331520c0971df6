import { fileURLToPath } from 'node:url';

/** The repository the CLI runs from (cli/dist/ or cli/src/ is two levels below it). */
export const repoRoot: string = fileURLToPath(new URL('../../', import.meta.url));
