import { describe, expect, it } from 'vitest';
import type { ToolSpec } from '../../core/definitions/context.ts';
import type { ToolCallBlock } from '../../core/definitions/messages.ts';
import {
  callableFromCode,
  scriptBridge,
  withCodeMode,
  type GovernedCall,
  type RefusedCall,
} from '../../core/run/code-mode.ts';
import type { StartedRunState } from '../../core/run/load.ts';
import type { CallOutcome } from '../../core/run/tools/outcome.ts';

/** The code-mode bridge's own rules, with the gateway replaced by recorders (the e2e test runs the real one). */

const tool = (server: string, name: string, extra: Partial<ToolSpec> = {}): ToolSpec => ({
  name: `${server}__${name}`,
  server,
  tool: name,
  description: '',
  inputSchema: { type: 'object' },
  readOnly: false,
  destructive: false,
  requiresApproval: false,
  ...extra,
});

const TOOLS = [
  tool('sandbox', 'exec'),
  tool('sandbox', 'run_code'),
  tool('reports', 'read', { readOnly: true }),
  tool('notes', 'write'),
  { ...tool('looprail', 'load_tools'), name: 'looprail__load_tools', builtin: true },
];

const state = { meta: { runId: 'r-1', untrusted: false }, context: { tools: TOOLS } } as unknown as StartedRunState;
const outer: ToolCallBlock = { type: 'tool_call', id: 'call-9', name: 'sandbox__run_code', arguments: { code: '…' } };

function recorder(delayMs = 0) {
  const seen: Array<{ id: string; name: string; untrusted: boolean }> = [];
  const outcome = (call: ToolCallBlock, kind: CallOutcome['kind'], content: string): CallOutcome => ({
    kind,
    result: { type: 'tool_result', callId: call.id, name: call.name, content, isError: kind !== 'executed' },
    trace: {
      kind: kind === 'executed' ? 'tool_call' : 'tool_denied',
      role: 'maker',
      name: call.name,
      status: kind === 'executed' ? 'ok' : 'denied',
      startedAt: '',
      endedAt: '',
      latencyMs: 0,
      callId: call.id,
    },
  });
  const governed: GovernedCall = async (inner, call) => {
    seen.push({ id: call.id, name: call.name, untrusted: inner.meta.untrusted === true });
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    return outcome(call, 'executed', `result of ${call.name}`);
  };
  const refused: RefusedCall = (_inner, call, reason) => Promise.resolve(outcome(call, 'denied', reason));
  return { seen, governed, refused };
}

describe('code mode', () => {
  it("names the tools a script may call in run_code's description: granted server tools, not the sandbox's or looprail's own", () => {
    expect(callableFromCode(TOOLS).map((each) => each.name)).toEqual(['reports__read', 'notes__write']);
    const runCode = withCodeMode(TOOLS).find((each) => each.tool === 'run_code')!;
    expect(runCode.description).toContain('- reports.read (read-only)\n- notes.write');
    expect(runCode.description).not.toContain('sandbox.exec');
    expect(withCodeMode(TOOLS).filter((each) => each.tool !== 'run_code')).toEqual(
      TOOLS.filter((each) => each.tool !== 'run_code'),
    );
  });

  it('gives each call a stable id under the run_code call, resolves both naming styles, and keeps the order asked', async () => {
    const { seen, governed, refused } = recorder();
    const script = scriptBridge(state, outer, 10, governed, refused);
    expect(await script.bridge({ name: 'reports.read', arguments: {} })).toEqual({
      content: 'result of reports__read',
      isError: false,
    });
    expect(await script.bridge({ name: 'notes__write', arguments: {} })).toEqual({
      content: 'result of notes__write',
      isError: false,
    });
    // Unknown names still go to the gateway, which refuses and records them like any call.
    await script.bridge({ name: 'nowhere.tool', arguments: {} });
    expect(seen.map((call) => [call.id, call.name])).toEqual([
      ['call-9.1', 'reports__read'],
      ['call-9.2', 'notes__write'],
      ['call-9.3', 'nowhere__tool'],
    ]);
    expect((await script.outcomes()).map((outcome) => outcome.result.callId)).toEqual([
      'call-9.1',
      'call-9.2',
      'call-9.3',
    ]);
  });

  it("refuses the sandbox's own tools and calls past max_script_tool_calls, each recorded", async () => {
    const { seen, governed, refused } = recorder();
    const script = scriptBridge(state, outer, 2, governed, refused);
    const exec = await script.bridge({ name: 'sandbox.exec', arguments: { command: 'id' } });
    expect(exec).toMatchObject({ isError: true });
    expect(exec.content).toContain("the sandbox's own tool");
    await script.bridge({ name: 'reports.read', arguments: {} });
    const third = await script.bridge({ name: 'reports.read', arguments: {} });
    expect(third.content).toContain("made 2 tool calls, the sandbox's max_script_tool_calls");
    expect(seen).toHaveLength(1);
    expect((await script.outcomes()).map((outcome) => outcome.kind)).toEqual(['denied', 'executed', 'denied']);
  });

  it("treats the script's later calls as made after untrusted content once one result came back, without touching the run's own state", async () => {
    const { seen, governed, refused } = recorder();
    const script = scriptBridge(state, outer, 10, governed, refused);
    await script.bridge({ name: 'reports.read', arguments: {} });
    await script.bridge({ name: 'notes.write', arguments: {} });
    expect(seen.map((call) => call.untrusted)).toEqual([false, true]);
    expect(state.meta.untrusted).toBe(false);
  });

  it('runs at most four calls at once, and outcomes() waits for calls still running', async () => {
    let running = 0;
    let most = 0;
    const { refused } = recorder();
    const governed: GovernedCall = async (_inner, call) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running -= 1;
      return {
        kind: 'executed',
        result: { type: 'tool_result', callId: call.id, name: call.name, content: 'ok', isError: false },
        trace: {
          kind: 'tool_call',
          role: 'maker',
          name: call.name,
          status: 'ok',
          startedAt: '',
          endedAt: '',
          latencyMs: 0,
        },
      };
    };
    const script = scriptBridge(state, outer, 50, governed, refused);
    // As a killed script would: the calls are asked for, nobody awaits them.
    for (let i = 0; i < 10; i += 1) void script.bridge({ name: 'reports.read', arguments: {} });
    const outcomes = await script.outcomes();
    expect(outcomes).toHaveLength(10);
    expect(outcomes.every((outcome) => outcome.kind === 'executed')).toBe(true);
    expect(most).toBe(4);
  });
});
