import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources in tests through the
// "meshbus-source" export condition; built code resolves to dist/.
const conditions = ['meshbus-source', 'import', 'module', 'node', 'default'];

// Tests that kill processes on a timer or load the machine on purpose: they run
// one at a time after the other integration tests, so neither skews the other's
// timings on a two-core machine.
const serial = ['tests/chaos.int.test.ts', 'services/destination/src/big-manifest.int.test.ts'];

export default defineConfig({
  resolve: { conditions },
  // Vitest hands the SSR conditions to Node (--conditions) for every import and require in the
  // workers. Node itself never uses "module", and packages that point it at bundler-only builds
  // (the OpenTelemetry SDK) would not load with it.
  ssr: { resolve: { conditions: conditions.filter((c) => c !== 'module'), externalConditions: ['meshbus-source'] } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{libs,services,bus-schemas,proxy-api,proxy,cli,bench}/**/src/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', '**/*.int.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['{libs,services,bus-schemas,proxy-api,proxy,cli,bench}/**/src/**/*.int.test.ts', 'tests/**/*.int.test.ts', 'examples/subscribers/test/**/*.int.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', ...serial],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Each file starts its own nats-server and services; two at a time fits two cores.
          maxWorkers: 2,
          minWorkers: 1,
        },
      },
      {
        extends: true,
        test: {
          name: 'serial',
          include: serial,
          testTimeout: 60_000,
          hookTimeout: 60_000,
          maxWorkers: 1,
          minWorkers: 1,
          fileParallelism: false,
        },
      },
    ],
  },
});
