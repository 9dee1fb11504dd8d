import { describe, expect, it } from 'vitest';
import { costMicros } from '../../core/budgets/pricing.ts';
import { formatUsd } from '../../core/format/usd.ts';
import type { ToolSpec } from '../../core/definitions/context.ts';
import { ZERO_USAGE, type RunMeta } from '../../core/definitions/run.ts';
import type { ToolCallBlock } from '../../core/definitions/messages.ts';
import { limitBeforeModelCall, spendLimit } from '../../core/loop/limits.ts';
import { isStalled, nextStallState, turnSignature } from '../../core/loop/stall.ts';
import { approvalFor } from '../../core/policy/approval-rules.ts';
import { grantAllows, grantedTools } from '../../core/policy/grants.ts';
import { matchesToolPattern } from '../../core/policy/tool-patterns.ts';
import { newRunMeta } from '../../core/run/request-run.ts';
import { McpServerDeclaration } from '../../core/definitions/org.ts';

const limits = {
  maxSteps: 5,
  maxOutputTokens: 100,
  stallMaxRepeats: 3,
  onDeniedTool: 'continue' as const,
  onToolInDoubt: 'continue' as const,
  maxToolCallsPerTurn: 8,
};

function meta(fields: Partial<RunMeta> = {}): RunMeta {
  return {
    ...newRunMeta({
      runId: 'r-1',
      agent: 'a',
      principal: 'p',
      trigger: { kind: 'cli' },
      input: {},
      createdAt: '2026-11-24T06:00:00Z',
      startedAt: '2026-11-24T06:00:00Z',
    }),
    ...fields,
  };
}

describe('pricing', () => {
  it('prices tokens in integer micro-dollars, cached input at its own rate', () => {
    const price = { input_per_mtok: 3, output_per_mtok: 15, cached_input_per_mtok: 0.3 };
    expect(costMicros(price, { inputTokens: 20_000, outputTokens: 1_000, cachedInputTokens: 0 })).toBe(75_000);
    expect(costMicros(price, { inputTokens: 20_000, outputTokens: 1_000, cachedInputTokens: 18_000 })).toBe(
      6_000 + 5_400 + 15_000,
    );
    expect(formatUsd(75_000)).toBe('$0.075');
    // Cache writes at their own rate when declared, else at the input rate.
    expect(
      costMicros(
        { ...price, cache_write_per_mtok: 3.75 },
        { inputTokens: 20_000, outputTokens: 0, cachedInputTokens: 10_000, cacheWriteInputTokens: 4_000 },
      ),
    ).toBe(6_000 * 3 + 10_000 * 0.3 + 4_000 * 3.75);
    expect(
      costMicros(price, { inputTokens: 1_000, outputTokens: 0, cachedInputTokens: 0, cacheWriteInputTokens: 1_000 }),
    ).toBe(3_000);
  });

  it('adds up exactly over many steps (no float drift)', () => {
    const price = { input_per_mtok: 0.8, output_per_mtok: 4 };
    let total = 0;
    for (let i = 0; i < 1000; i++)
      total += costMicros(price, { inputTokens: 1234, outputTokens: 56, cachedInputTokens: 0 });
    expect(total).toBe(1000 * Math.round(1234 * 0.8 + 56 * 4));
  });
});

describe('limits', () => {
  const now = new Date('2026-11-24T06:10:00Z');
  it('stops at max_steps before the next model call', () => {
    expect(limitBeforeModelCall(meta({ modelCalls: 4 }), limits, now)).toBeNull();
    expect(limitBeforeModelCall(meta({ modelCalls: 5 }), limits, now)?.reason).toBe('max_steps');
  });
  it('stops on wall-clock time', () => {
    expect(limitBeforeModelCall(meta(), { ...limits, maxDurationSeconds: 600 }, now)?.reason).toBe('timeout');
    expect(limitBeforeModelCall(meta(), { ...limits, maxDurationSeconds: 601 }, now)).toBeNull();
  });
  it("counts the checker's tokens and cost against the run's ceilings", () => {
    const spent = meta({
      usage: { ...ZERO_USAGE, inputTokens: 600, outputTokens: 100, costMicros: 400_000 },
      checkerUsage: { ...ZERO_USAGE, inputTokens: 300, costMicros: 200_000 },
    });
    expect(spendLimit(spent, { ...limits, maxTokens: 1001 })).toBeNull();
    expect(spendLimit(spent, { ...limits, maxTokens: 1001, maxCostMicros: 600_000 })?.reason).toBe('budget_exhausted');
    expect(spendLimit(spent, { ...limits, maxTokens: 1000 })?.reason).toBe('token_budget');
  });
});

describe('stall detection', () => {
  const call = (args: Record<string, unknown>): ToolCallBlock => ({
    type: 'tool_call',
    id: Math.random().toString(),
    name: 'ci__read',
    arguments: args,
  });
  it('counts the same calls with the same arguments, whatever the key order or call ids', () => {
    expect(turnSignature([call({ a: 1, b: { c: 2, d: 3 } })])).toBe(turnSignature([call({ b: { d: 3, c: 2 }, a: 1 })]));
    let state = nextStallState(undefined, [call({ path: 'x' })]);
    state = nextStallState(state, [call({ path: 'x' })]);
    expect(isStalled(state, 3)).toBe(false);
    state = nextStallState(state, [call({ path: 'x' })]);
    expect(isStalled(state, 3)).toBe(true);
  });
  it('resets on different arguments or a turn without calls', () => {
    let state = nextStallState(undefined, [call({ path: 'x' })]);
    state = nextStallState(state, [call({ path: 'y' })]);
    expect(state?.repeats).toBe(1);
    expect(nextStallState(state, [])).toBeUndefined();
  });
});

describe('tool patterns, grants and approvals', () => {
  const server = McpServerDeclaration.parse({
    name: 'github',
    transport: { type: 'http', url: 'https://example.com/mcp' },
    tools: {
      list_prs: { read_only: true },
      merge_pr: { destructive: true },
      delete_branch: {},
      comment: { requires_approval: true },
    },
  });
  it('matches bare, qualified and wildcard patterns', () => {
    expect(matchesToolPattern('merge_pr', 'github', 'merge_pr')).toBe(true);
    expect(matchesToolPattern('github.merge_pr', 'gitlab', 'merge_pr')).toBe(false);
    expect(matchesToolPattern('github.*', 'github', 'anything')).toBe(true);
    expect(matchesToolPattern('*.delete_*', 'github', 'delete_branch')).toBe(true);
    expect(matchesToolPattern('delete_*', 'github', 'undelete')).toBe(false);
  });
  it('grants only declared tools, narrowed by allow and deny', () => {
    expect(grantedTools([{ server: 'github' }], { github: server }).map((t) => t.tool)).toEqual([
      'list_prs',
      'merge_pr',
      'delete_branch',
      'comment',
    ]);
    expect(grantAllows({ server: 'github', allow: ['list_*', 'merge_pr'], deny: ['merge_*'] }, 'merge_pr')).toBe(false);
    expect(grantAllows({ server: 'github', allow: ['list_*'] }, 'list_prs')).toBe(true);
    expect(grantedTools([{ server: 'gitlab' }], { github: server })).toEqual([]);
  });
  it("pauses destructive tools whatever the agent says, and adds the agent's own rules", () => {
    const spec = (tool: string, flags: Partial<ToolSpec> = {}): ToolSpec => ({
      name: `github__${tool}`,
      server: 'github',
      tool,
      description: '',
      inputSchema: {},
      readOnly: false,
      destructive: false,
      requiresApproval: false,
      ...flags,
    });
    expect(approvalFor(spec('merge_pr', { destructive: true }), [], 3600)?.reasons).toEqual([
      'github.merge_pr is flagged destructive in its server declaration',
    ]);
    expect(approvalFor(spec('comment', { requiresApproval: true }), [], 3600)?.timeoutSeconds).toBe(3600);
    expect(approvalFor(spec('list_prs', { readOnly: true }), [], 3600)).toBeNull();
    const rule = {
      pattern: 'github.delete_*',
      approvers: ['a@example.com'],
      timeoutSeconds: 600,
      onReject: 'stop' as const,
    };
    expect(approvalFor(spec('delete_branch'), [rule], 3600)).toEqual({
      reasons: ['the agent\'s approval rule "github.delete_*"'],
      approvers: ['a@example.com'],
      timeoutSeconds: 600,
      onReject: 'stop',
    });
  });
});
