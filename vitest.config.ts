import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources in tests through the
// "meshbus-source" export condition; built code resolves to dist/.
const conditions = ['meshbus-source', 'import', 'module', 'node', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['meshbus-source'] } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{libs,services,bus-schemas,proxy-api,cli,bench}/**/src/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', '**/*.int.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['{libs,services,bus-schemas,proxy-api,cli,bench}/**/src/**/*.int.test.ts', 'tests/**/*.int.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Each file starts its own nats-server and services; two at a time fits two cores.
          maxWorkers: 2,
          minWorkers: 1,
        },
      },
    ],
  },
});
