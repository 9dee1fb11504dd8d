import { Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import { EVENT_SOURCE } from '../../adapters/events/eventbridge.ts';
import { roleVariables } from '../../functions/_shared/env-contract.ts';
import type { HandlerFunction } from './handler-function.ts';

/** The account's default bus: runtime events need no bus of their own. */
export const DEFAULT_EVENT_BUS = 'default';

/**
 * Runtime events (`looprail.run.*`) on EventBridge: each publisher is told the bus
 * (`LOOPRAIL_EVENT_BUS`, read by functions/_shared/runtime.ts) and may PutEvents on that
 * bus only, with source `looprail` only, so it cannot pose as another service's events.
 */
export function publishRuntimeEvents(
  scope: IConstruct,
  publishers: readonly HandlerFunction[],
  eventBusName: string = DEFAULT_EVENT_BUS,
): void {
  const busArn = Stack.of(scope).formatArn({ service: 'events', resource: 'event-bus', resourceName: eventBusName });
  for (const publisher of publishers) {
    publisher.addEnvironment(roleVariables('runtime', { LOOPRAIL_EVENT_BUS: eventBusName }));
    publisher.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [busArn],
        // events:source is multivalued in IAM's service reference, so a plain StringEquals allows
        // nothing: every source must be ours (ForAllValues), and there must be one (Null false).
        conditions: {
          'ForAllValues:StringEquals': { 'events:source': EVENT_SOURCE },
          Null: { 'events:source': 'false' },
        },
      }),
    );
  }
}
