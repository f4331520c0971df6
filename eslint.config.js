import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', 'proxy-api/src/gen/**', 'bus-schemas/src/generated/**', '**/*.config.ts', 'eslint.config.js'],
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-imports': ['error', { patterns: [{ group: ['@meshbus/*/src/*', '@meshbus/*/dist/*'], message: 'Import a package through its index.' }] }],
    },
  },
  {
    // Colocated tests are left out of each package's build; they are type-checked by tsconfig.test.json.
    files: ['**/src/**/*.test.ts', 'examples/subscribers/test/**/*.ts', 'services/identity/src/test-fixtures.ts', 'libs/x509/src/der-fuzz-support.ts', 'proxy/src/**/test-fixtures.ts', 'libs/install/src/test-fixtures.ts'],
    languageOptions: {
      parserOptions: { projectService: false, project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
  },
);
