import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '../../cli/local/dynamodb-local.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `http://127.0.0.1:<port>` of the run's one DynamoDB Local (in memory). */
    dynamodbEndpoint: string;
  }
}

/**
 * One DynamoDB Local for the whole test run (a JVM takes seconds to start); each test
 * file makes its own table with test/support/dynamodb.ts, so files never see each
 * other's data.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // A generous start deadline: test runs share the machine with other JVMs and builds.
  const dynamodb = await startDynamoDbLocal({ inMemory: true, startTimeoutMs: 90_000 });
  project.provide('dynamodbEndpoint', dynamodb.endpoint);
  return () => dynamodb.stop();
}
