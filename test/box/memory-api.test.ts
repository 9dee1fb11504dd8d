import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AgentMemoryView, MemoryActionResponse } from '../../functions/http/api/memory.ts';
import { NOBODY, StackInABox } from './box.ts';
import { signedFetch } from './clients.ts';
import { type Synthesized, synth, withoutStatements } from './synth.ts';

/**
 * Loop memory on the deployed stack: the memory org (test/fixtures/memory-org) in the box,
 * two morning runs started through the API, then an operator reads the ledger and reopens,
 * marks done and clears it through `/v1/agents/{agent}/memory`, every DynamoDB call the
 * HTTP API Lambda makes checked against the template's own IAM. With the table grant taken
 * out of the HttpApp role, the same read is refused by name.
 */

let box: StackInABox;
let synthesized: Synthesized;

beforeAll(async () => {
  synthesized = await synth({ org: 'test/fixtures/memory-org' });
  box = await StackInABox.deploy({ ...synthesized, dynamodbUrl: inject('dynamodbEndpoint'), retryIntervalMs: 0 });
}, 300_000);

afterAll(async () => {
  await box?.close();
});

async function memoryCall(target: StackInABox, body?: unknown, user?: string) {
  const response = await signedFetch(target, user)(`${target.api.url}/v1/agents/morning/memory`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, any> };
}

describe('loop memory through the deployed API', () => {
  it('reads, reopens, marks done and clears the ledger under the template IAM, recorded with the IAM caller', async () => {
    const api = signedFetch(box);
    for (let run = 0; run < 2; run++) {
      const started = await api(`${box.api.url}/v1/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent: 'morning', input: {} }),
      });
      expect(started.status).toBe(201);
      await box.stepFunctions.settled();
    }

    const read = await memoryCall(box);
    expect(read.status).toBe(200);
    const view = read.json as AgentMemoryView;
    expect(view.items.map(({ id, state, attempts }) => [id, state, attempts])).toEqual([
      ['ci-2', 'needs_human', 2],
      ['ci-1', 'done', 1],
    ]);
    expect(view.notes.map((note) => note.version)).toEqual([2, 1]);

    const reopened = await memoryCall(box, { action: 'reopen', id: 'ci-2' });
    expect(reopened.status).toBe(200);
    const by = (reopened.json as MemoryActionResponse).item!.operator!.by;
    expect(by).toMatch(/^arn:aws:iam::\d{12}:user\/operator$/);
    expect(reopened.json).toMatchObject({ item: { state: 'open', attempts: 0 } });
    expect((await memoryCall(box, { action: 'done', id: 'ci-2' })).json).toMatchObject({
      item: { state: 'done', outcome: `marked done by ${by}` },
    });
    expect((await memoryCall(box, { action: 'reopen', id: 'ci-404' })).status).toBe(404);
    const cleared = await memoryCall(box, { action: 'clear' });
    expect(cleared.json).toMatchObject({
      removed: 2,
      message: `cleared 2 items of morning's ledger (recorded as ${by})`,
    });

    const after = (await memoryCall(box)).json as AgentMemoryView;
    expect(after.items).toEqual([]);
    expect(after.operatorActions.map(({ action, by: who }) => [action, who])).toEqual([
      ['clear', by],
      ['done', by],
      ['reopen', by],
    ]);
    // Not signed, or signed by a user without execute-api:Invoke: API Gateway refuses it.
    expect((await fetch(`${box.api.url}/v1/agents/morning/memory`)).status).toBe(403);
    expect((await memoryCall(box, undefined, NOBODY)).status).toBe(403);
    expect(box.denials).toEqual([]);
  });

  it('names the refused call when the HttpApp role lacks its table grant', async () => {
    // The same synthesized stack with the role's table statement taken out, as a half-finished change would leave it.
    const { synthesized: withoutGrant } = withoutStatements(
      synthesized,
      (statement, policyId) =>
        policyId.startsWith('HttpAppRole') && [statement.Action].flat().includes('dynamodb:PutItem'),
    );
    const edited = await StackInABox.deploy({ ...withoutGrant, dynamodbUrl: inject('dynamodbEndpoint') });
    try {
      expect((await memoryCall(edited)).status).toBe(500);
      expect((await memoryCall(edited, { action: 'clear' })).status).toBe(500);
      expect(edited.denials.length).toBeGreaterThan(0);
      for (const denial of edited.denials)
        expect(denial).toMatchObject({
          principalArn: expect.stringMatching(/:assumed-role\/Looprail-HttpAppRole/),
          action: 'dynamodb:Query',
          resource: expect.stringMatching(/:table\/Looprail-RunTable[^/]+$/),
        });
    } finally {
      await edited.close();
    }
  });
});
