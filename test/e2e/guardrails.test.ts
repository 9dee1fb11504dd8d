import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingIn } from '../../cli/commands/replay.ts';
import type { LocalHost } from '../../cli/local/host.ts';
import { runToEnd, testHost } from '../support/local-host.ts';

/**
 * Guardrails on every model and tool call of a run (test/fixtures/guarded-org: an org
 * policy in guardrails.yaml, tightened by some agents), on the real local flow.
 */

/** AWS's documented example key, assembled at run time so no file holds a string shaped like a real one. */
const FAKE_ACCESS_KEY = ['AKIA', 'IOSFODNN7EXAMPLE'].join('');

let host: LocalHost;
let org: string;
beforeAll(async () => {
  // The fixture's script says __FAKE_ACCESS_KEY__; a copy of the org gets the key-shaped value.
  org = await mkdtemp(join(tmpdir(), 'looprail-guarded-'));
  await cp('test/fixtures/guarded-org', org, { recursive: true });
  const script = join(org, 'scripts/redacts.yaml');
  await writeFile(script, (await readFile(script, 'utf8')).replace('__FAKE_ACCESS_KEY__', FAKE_ACCESS_KEY));
  host = await testHost(org);
});
afterAll(async () => {
  await host?.close();
  await rm(org, { recursive: true, force: true });
});

const run = (agent: string, input: unknown = {}) => runToEnd(host, agent, input);

describe('guardrails', () => {
  it('redact PII and internal hostnames in model output before it is stored or sent to a tool, and record each verdict', async () => {
    const { meta, trace, messages } = await run('redacts');
    expect(meta.stopReason).toBe('completed');
    const stored = JSON.stringify(messages);
    expect(stored).not.toContain('jane.doe@example.com');
    expect(stored).not.toContain(FAKE_ACCESS_KEY);
    expect(stored).not.toContain('db1.corp.example.com');
    // The model's tool call was redacted as it was stored, so the call itself carried none of it.
    expect(messages[1]!.content[1]).toMatchObject({
      type: 'tool_call',
      arguments: { message: 'Reach [redacted:email] about [internal-host], key [redacted:aws_access_key]' },
    });
    expect(messages[2]!.content[0]).toMatchObject({
      type: 'tool_result',
      isError: false,
      content: 'Echo: Reach [redacted:email] about [internal-host], key [redacted:aws_access_key]',
    });
    const modelCall = trace.find((e) => e.kind === 'model_call')!;
    expect(modelCall.guardrails!.map((v) => [v.rule, v.stage, v.action, v.count])).toEqual([
      ['pii', 'model_output', 'redact', 2],
      ['custom.no-internal-hostnames', 'model_output', 'redact', 1],
    ]);
    // Verdicts say what and how many, never the value.
    expect(JSON.stringify(trace)).not.toContain('jane.doe');
  });

  it('are kept in an export of the run: the file holds the redactions, never the values', async () => {
    const { runId } = await run('redacts');
    const exported = await recordingIn(
      { store: host.deps.store, client: host.dynamodb, tableName: host.tableName },
      runId,
      'the test table',
    );
    expect(exported).toMatchObject({ looprail_export: 1, runId, agent: 'redacts' });
    const file = JSON.stringify(exported);
    expect(file).toContain('Reach [redacted:email] about [internal-host], key [redacted:aws_access_key]');
    for (const value of ['jane.doe@example.com', FAKE_ACCESS_KEY, 'db1.corp.example.com'])
      expect(file).not.toContain(value);
  });

  it('block a tool call whose arguments match a deny pattern: the call is not made and the run stops guardrail_blocked', async () => {
    const { meta, trace } = await run('deny');
    expect(meta).toMatchObject({ stopReason: 'guardrail_blocked', toolCalls: 0 });
    expect(meta.stopDetail).toContain('blocked by guardrail deny_patterns.no-ddl at tool_input');
    expect(trace.find((e) => e.kind === 'tool_call')).toMatchObject({ status: 'denied', attempt: 0 });
    expect(trace.filter((e) => e.kind === 'model_call')).toHaveLength(1);
  });

  it('withhold a tool result carrying a prompt injection when the agent blocks it, and flag it otherwise', async () => {
    const blocked = await run('injection');
    expect(blocked.meta.stopReason).toBe('guardrail_blocked');
    expect(blocked.meta.stopDetail).toContain('prompt_injection');
    const results = blocked.messages.filter((m) => m.role === 'tool');
    expect(results).toEqual([
      {
        role: 'tool',
        content: [expect.objectContaining({ isError: true, content: expect.stringContaining('was withheld') })],
      },
    ]);
    expect(JSON.stringify(results)).not.toContain('Ignore all previous instructions');
    const flagged = await run('injection-flagged');
    expect(flagged.meta.stopReason).toBe('completed');
    const call = flagged.trace.find((e) => e.kind === 'tool_call')!;
    expect(call.guardrails!.find((v) => v.rule === 'prompt_injection')).toMatchObject({
      stage: 'tool_output',
      action: 'flag',
    });
  });

  it("redact a card number in the model's own answer before it is stored", async () => {
    const { meta, messages, trace } = await run('leaky-model');
    expect(meta.stopReason).toBe('completed');
    expect(JSON.stringify(messages)).not.toContain('4111 1111 1111 1111');
    expect(trace.find((e) => e.kind === 'model_call')!.guardrails).toEqual([
      expect.objectContaining({ rule: 'pii', stage: 'model_output', action: 'redact' }),
    ]);
  });

  it('block a run whose input is refused, before any model call', async () => {
    const { meta, trace, messages } = await run('bad-input', { task: 'log in with password=hunter2' });
    expect(meta).toMatchObject({ stopReason: 'guardrail_blocked', modelCalls: 0 });
    expect(messages).toEqual([]);
    expect(trace.map((e) => e.kind)).toEqual(['run_started', 'run_finished']);
    expect(JSON.stringify(trace)).not.toContain('hunter2');
  });

  it('are checked by validate: an unknown custom rule is a clear error', async () => {
    const { validateOrg } = await import('../../core/definitions/validate.ts');
    const result = validateOrg(
      [
        { path: 'models.yaml', display: 'models.yaml', text: 'models: {}\n' },
        {
          path: 'guardrails.yaml',
          display: 'guardrails.yaml',
          text: 'guardrails:\n  custom:\n    - { rule: no-such-rule }\n',
        },
      ],
      { customRules: ['no-internal-hostnames'] },
    );
    expect(result.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.path}: ${p.message}`)).toEqual([
      'guardrails.yaml:3:15: guardrails.custom[0].rule: unknown custom guardrail rule "no-such-rule" (guardrails/rules.ts has: no-internal-hostnames)',
    ]);
  });
});
