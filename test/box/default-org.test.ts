import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import { NOBODY, OPERATOR, StackInABox } from './box.ts';
import { signedFetch } from './clients.ts';
import { deployOrg } from './deploy-org.ts';
import { type Synthesized, withoutStatements } from './synth.ts';
import { toolCallsOf } from '../../core/definitions/messages.ts';
import { DEMO_TOOL_CALLS } from '../support/demo-trace.ts';

/**
 * The default org (agents/), synthesized and deployed into the stack in a box: its
 * schedule fires, and the run goes through every bundled function under the template's
 * own IAM, as on AWS. Nothing here is allowed to be refused.
 */

let box: StackInABox;
let store: DynamoRunStore;
let synthesized: Synthesized;

beforeAll(async () => {
  ({ box, store, synthesized } = await deployOrg());
}, 300_000);

afterAll(async () => {
  await box?.close();
});

describe('the default org deployed into the box', () => {
  it('fires its schedule and the run ends verified, with the demo trace and zero AccessDenied', async () => {
    const [schedule] = box.schedules.list();
    expect(schedule).toMatchObject({ enabled: true, timezone: 'Europe/Paris' });
    const fired = await box.schedules.fire(schedule!.logicalId);
    expect(fired).toMatchObject({ ok: true });
    await box.stepFunctions.settled();

    const runs = await store.listRuns({ agent: 'morning-triage', role: 'maker' });
    expect(runs).toHaveLength(1);
    const run = runs[0]!;
    expect(run).toMatchObject({ status: 'finished', stopReason: 'verified', trigger: { kind: 'schedule' } });
    const trace = await store.listTrace(run.runId);
    expect(trace.filter((event) => event.kind === 'tool_call').map((event) => [event.name, event.status])).toEqual(
      DEMO_TOOL_CALLS,
    );
    expect(box.denials).toEqual([]);

    // The turns are made by the ModelStep's function, under its role: a turn that only reads in
    // the commit that stores it, a turn with a call that may write (agents/mcp-servers:
    // create_entities and add_observations are not read_only) claimed and recorded after it.
    // None needs the sandbox, a skill, a sub-agent or an approval, so the ToolStep's never runs.
    const messages = (await store.loadState(run.runId))!.messages;
    const writing = new Set(['team-memory__create_entities', 'team-memory__add_observations']);
    const writingTurns = messages.filter((m) => toolCallsOf(m).some((call) => writing.has(call.name))).length;
    const readingTurns =
      messages.filter((m) => m.role === 'assistant' && toolCallsOf(m).length > 0).length - writingTurns;
    const ran = (step: string) =>
      box.lambdas.invocations.filter((i) => i.ok && box.lambdas.find(i.function)?.logicalId.includes(step)).length;
    expect(writingTurns).toBeGreaterThan(0);
    expect(readingTurns).toBeGreaterThan(0);
    expect(ran('ModelStep')).toBeGreaterThan(readingTurns + writingTurns);
    expect(ran('ToolStep')).toBe(0);
  });

  it('answers the API and every console page to a signed caller, and 403 to an unsigned or unauthorized one', async () => {
    const [run] = await store.listRuns({ agent: 'morning-triage', role: 'maker' });
    const pages = [
      '/v1/runs',
      `/v1/runs/${run!.runId}`,
      `/v1/runs/${run!.runId}/trace`,
      '/v1/approvals',
      '/console',
      '/console/runs',
      `/console/runs/${run!.runId}`,
      '/console/approvals',
      '/console/inventory',
      '/console/costs',
    ];
    const operator = signedFetch(box, OPERATOR);
    const nobody = signedFetch(box, NOBODY);
    for (const page of pages) {
      const signed = await operator(`${box.api.url}${page}`);
      expect([page, signed.status]).toEqual([page, 200]);
      expect((await fetch(`${box.api.url}${page}`)).status).toBe(403);
      expect((await nobody(`${box.api.url}${page}`)).status).toBe(403);
    }
    expect(box.denials).toEqual([]);
  });

  it('runs the reminders sweep clean', async () => {
    const [sweep] = box.rules.scheduledRules();
    const deliveries = await box.rules.fire(sweep!.logicalId);
    expect(deliveries.map((delivery) => delivery.result.ok)).toEqual([true]);
    expect(box.denials).toEqual([]);
  });

  it('reports the call a role is not granted, by role and action: the HTTP API without its run-listing grant', async () => {
    // The same synthesized stack with one grant taken out, as a half-finished change would leave it.
    const { synthesized: withoutGrant } = withoutStatements(
      synthesized,
      (statement, policyId) =>
        policyId.startsWith('HttpAppRole') && JSON.stringify(statement.Resource ?? '').includes('runsByStatus'),
    );
    const edited = await StackInABox.deploy({ ...withoutGrant, dynamodbUrl: inject('dynamodbEndpoint') });
    try {
      const listed = await signedFetch(edited)(`${edited.api.url}/v1/runs`);
      expect(listed.status).toBe(500);
      // One refused Query per status the listing reads, each naming the role, the action and the index.
      expect(edited.denials.length).toBeGreaterThan(0);
      for (const denial of edited.denials)
        expect(denial).toMatchObject({
          principalArn: expect.stringMatching(/:assumed-role\/Looprail-HttpAppRole/),
          action: 'dynamodb:Query',
          resource: expect.stringMatching(/:table\/Looprail-RunTable[^/]+\/index\/runsByStatus$/),
        });
    } finally {
      await edited.close();
    }
  });
});
