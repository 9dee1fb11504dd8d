import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One DynamoDB Local for the whole run; each test file uses its own table.
    globalSetup: ['test/support/dynamodb-global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: files that start JVMs and MCP servers should not all start at once.
    maxWorkers: 2,
    pool: 'forks',
  },
});
