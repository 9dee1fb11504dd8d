import { inject } from 'vitest';
import type { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import { StackInABox } from './box.ts';
import { boxRunStore } from './clients.ts';
import { type Synthesized, synth } from './synth.ts';

export interface DeployedOrg {
  box: StackInABox;
  /** The deployed table, read straight from DynamoDB Local. */
  store: DynamoRunStore;
  synthesized: Synthesized;
}

/**
 * An org folder (default: agents/) synthesized as a person deploying it would, then deployed
 * into a fresh box: approval mail sent from looprail@example.com, a verified SES domain, and
 * Step Functions retries without their backoff.
 */
export async function deployOrg(org?: string): Promise<DeployedOrg> {
  const synthesized = await synth({ ...(org ? { org } : {}), context: { approvalSender: 'looprail@example.com' } });
  const box = await StackInABox.deploy({
    ...synthesized,
    dynamodbUrl: inject('dynamodbEndpoint'),
    retryIntervalMs: 0,
    verifiedIdentities: ['example.com'],
  });
  return { box, store: boxRunStore(box, inject('dynamodbEndpoint')), synthesized };
}
