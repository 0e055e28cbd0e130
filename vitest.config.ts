import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Suites share one PostgreSQL and one Redis; each creates its own schema / key prefix,
    // but two cores are better spent on fewer, longer workers.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
