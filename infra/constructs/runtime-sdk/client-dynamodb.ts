import { createRequire } from 'node:module';

/**
 * What a Lambda bundle gets for `@aws-sdk/client-dynamodb` (LAMBDA_RUNTIME_SDK_REQUIRES,
 * handler-function.ts): the runtime's package loaded with `require()`, not ESM `import`.
 * Importing a CommonJS package makes Node's ESM loader detect every file's format and scan
 * its exports; requiring it skips both (about 50-80 ms CPU less per cold start,
 * bench/report.md). On Lambda, `require` from /var/task/index.mjs finds the runtime's SDK
 * through NODE_PATH (/var/runtime/node_modules), Node's own lookup for CommonJS: at least as
 * safe as the ESM import, which finds it only because Lambda's runtime searches NODE_PATH for
 * ES modules too.
 *
 * esbuild sees no `require` here (a function createRequire returned), so the specifier is
 * neither bundled nor aliased back to this file. The names are the ones looprail's bundled
 * code imports as values, typed from the real package: a misspelt one fails the typecheck,
 * a missing one fails the bundling ("No matching export").
 */
const sdk: typeof import('@aws-sdk/client-dynamodb') = createRequire(import.meta.url)('@aws-sdk/client-dynamodb');

export const {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} = sdk;
