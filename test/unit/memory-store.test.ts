import { runStoreContract } from '../support/store-contract/index.ts';
import { memoryRunStore } from '../support/memory-store/index.ts';

// The same cases as the DynamoDB adapter (test/integration/run-store.test.ts), with no DynamoDB Local.
runStoreContract('the in-memory store', async () => memoryRunStore());
