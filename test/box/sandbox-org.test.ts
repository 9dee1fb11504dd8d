import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { canRunSandboxAgent } from '../support/sandbox-agent.ts';
import { StackInABox } from './box.ts';
import { boxRunStore, signedFetch } from './clients.ts';
import { type Synthesized, synth, withoutStatements } from './synth.ts';

/**
 * The sandbox org (test/fixtures/sandbox-org) deployed into the box: CDK's own prefix-list
 * lookup answers at deploy, the repository archive is the synthesized asset in the bootstrap
 * bucket, and a coding run goes API → state machine → broker Lambda → ECS RunTask → a real
 * sandbox agent per task, every call under the template's IAM. The same run as
 * test/e2e/sandbox-fargate-loop.test.ts, now through what `cdk deploy` ships.
 */

let box: StackInABox;
let store: DynamoRunStore;
let synthesized: Synthesized;

describe.skipIf(!canRunSandboxAgent)(
  'the sandbox org deployed into the box (the agent drops to its own uid: skipped unless the tests run as root)',
  () => {
    beforeAll(async () => {
      synthesized = await synth({
        org: 'test/fixtures/sandbox-org',
        context: { approvalSender: 'looprail@example.com' },
        environmentAgnostic: true,
      });
      box = await StackInABox.deploy({
        ...synthesized,
        dynamodbUrl: inject('dynamodbEndpoint'),
        retryIntervalMs: 0,
        verifiedIdentities: ['example.com'],
        sandboxes: true,
      });
      store = boxRunStore(box, inject('dynamodbEndpoint'));
    }, 300_000);
    afterAll(async () => {
      await box?.close();
    });

    it("resolves the S3 prefix list through CDK's own custom resource, under its role", () => {
      const [lookup] = box.template
        .ofType('Custom::AWS')
        .filter((id) => JSON.stringify(box.template.properties(id)).includes('describeManagedPrefixLists'));
      expect(box.template.customResourceData.get(lookup!)).toEqual({
        'PrefixLists.0.PrefixListId': expect.stringMatching(/^pl-[0-9a-f]{8}$/),
      });
      const egress = box.template
        .ofType('AWS::EC2::SecurityGroupEgress')
        .map((id) => box.template.properties(id).DestinationPrefixListId)
        .filter(Boolean);
      expect(egress.length).toBeGreaterThan(0);
      expect(new Set(egress)).toEqual(
        new Set([box.template.customResourceData.get(lookup!)!['PrefixLists.0.PrefixListId']]),
      );
      expect(box.denials).toEqual([]);
    });

    it('fixes the failing test in a Fargate task the broker starts, verified in the same task, with zero AccessDenied', async () => {
      const api = signedFetch(box);
      const started = await api(`${box.api.url}/v1/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent: 'coder', input: { task: 'The sum test fails: fix it.' } }),
      });
      expect(started.status).toBe(201);
      const { runId } = (await started.json()) as { runId: string };
      await box.stepFunctions.settled();

      expect(await store.getRun(runId)).toMatchObject({ status: 'finished', stopReason: 'verified' });
      const sandboxCalls = (trace: TraceEvent[]) =>
        trace
          .filter((event) => event.kind === 'tool_call' && event.server === 'sandbox')
          .map((event) => [event.tool, event.status]);
      const trace = await store.listTrace(runId);
      expect(sandboxCalls(trace)).toEqual([
        ['list_files', 'ok'],
        ['exec', 'error'],
        ['read_file', 'ok'],
        ['write_file', 'ok'],
        ['exec', 'ok'],
      ]);
      // verify.checks ran the tests from the Verify Lambda, through the broker, in the same task; then the checker.
      const [check, verdict] = trace.filter((event) => event.kind === 'verification');
      expect(check).toMatchObject({ role: 'maker', name: 'tests', status: 'pass', sandbox: { exitCode: 0 } });
      const checkerRunId = verdict!.childRunId!;
      expect(sandboxCalls(await store.listTrace(checkerRunId))).toEqual([
        ['diff', 'ok'],
        ['read_file', 'ok'],
      ]);

      // One task for the maker and its checker, in the template's cluster, stopped when the run ended.
      const tasks = [...box.ecs!.control.tasks.values()].filter((task) => task.startedBy === runId);
      expect(tasks.map((task) => [task.desiredStatus, task.stoppedReason])).toEqual([
        ['STOPPED', 'looprail: run ended'],
      ]);
      expect(box.denials).toEqual([]);
    });

    it('fails the deploy, naming the refused call, when the lookup role lacks its grant', async () => {
      // The same synthesized stack with the lookup's one statement taken out.
      const { synthesized: withoutGrant, removed } = withoutStatements(
        synthesized,
        (statement) => statement.Action === 'ec2:DescribeManagedPrefixLists',
      );
      expect(removed).toBe(1);
      await expect(
        StackInABox.deploy({ ...withoutGrant, dynamodbUrl: inject('dynamodbEndpoint'), sandboxes: true }),
      ).rejects.toThrow(
        /custom resource .*Lookup.* failed: .*not authorized to perform: ec2:DescribeManagedPrefixLists/,
      );
    });
  },
);
