import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../core/definitions/problems.ts';
import { validateOrg } from '../../core/definitions/validate.ts';
import { compileAgentView } from '../../core/run/agent-view.ts';
import { notLoadedRefusal, toolsShown, withDeferral } from '../../core/run/deferred-tools.ts';
import type { RunContext, ToolSpec } from '../../core/definitions/context.ts';
import type { Message } from '../../core/definitions/messages.ts';
import { compactionSplit, contextMessages, summaryMessage, transcript } from '../../core/run/compaction.ts';
import { orgFiles } from '../support/org-files.ts';

/** Validation of the token-saving switches, and the pure rules of deferred loading. */

function org(overrides: Record<string, string>) {
  const files = orgFiles('test/fixtures/loop-org');
  for (const [path, text] of Object.entries(overrides)) files.set(path, text);
  return validateOrg([...files].map(([path, text]) => ({ path, display: path, text })));
}
const errors = (result: ReturnType<typeof validateOrg>) =>
  result.problems.filter((p) => p.severity === 'error').map(formatProblem);

const agent = (extra: string, grant = 'everything') =>
  `agent:\n  name: lean\n  owner: tests@example.com\n  model: s-basic\n  instructions: ./instructions.md@v1\n  mcp_servers: [${grant}]\n${extra}`;

describe('validation', () => {
  it('accepts the switches and thresholds', () => {
    const result = org({
      'lean.yaml': agent(
        '  harness: { context: { offload_result_tokens: 2000, offload_turn_tokens: 6000, preview_chars: 800 } }\n',
        '{ name: everything, defer_loading: true }',
      ),
    });
    expect(errors(result)).toEqual([]);
    const view = compileAgentView(result.catalog!, 'lean');
    expect(view.limits.offload).toEqual({ resultTokens: 2000, turnTokens: 6000, previewChars: 800 });
    expect(view.grants).toEqual([{ server: 'everything', deferLoading: true }]);
  });

  it('reports a wrong switch and bad thresholds, each with its place', () => {
    const result = org({
      'lean.yaml': agent(
        '  harness: { context: { offload_result_tokens: 0, offload_turn_tokens: lots, preview: 10 } }\n',
        '{ name: everything, defer_loading: sometimes }',
      ),
      'mcp-servers/everything.yaml':
        'name: everything\ndefer_loading: 1\ntransport: { type: stdio, command: mcp-server-everything, args: [stdio] }\ntools:\n  echo: {}\n',
    });
    const found = errors(result);
    expect(found).toEqual(
      expect.arrayContaining([
        'mcp-servers/everything.yaml:2:16: defer_loading: expected true or false',
        'lean.yaml:6:52: agent.mcp_servers[0].defer_loading: expected true or false',
        'lean.yaml:7:48: agent.harness.context.offload_result_tokens: expected a number greater than 0',
        'lean.yaml:7:72: agent.harness.context.offload_turn_tokens: expected a positive whole number (underscores allowed, e.g. 1_500_000)',
        'lean.yaml:7:78: agent.harness.context.preview: unknown key "preview"; expected one of: offload_result_tokens, offload_turn_tokens, preview_chars, compact_at, compaction_model, on_compaction_failure',
      ]),
    );
    expect(result.catalog).toBeUndefined();
  });

  it('reports bad compaction settings and an unknown compaction model', () => {
    const bad = errors(
      org({ 'lean.yaml': agent('  harness: { context: { compact_at: 1.5, on_compaction_failure: maybe } }\n') }),
    );
    expect(bad).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^lean\.yaml:7:\d+: agent\.harness\.context\.compact_at: expected a fraction below 1$/),
        expect.stringMatching(
          /^lean\.yaml:7:\d+: agent\.harness\.context\.on_compaction_failure: expected one of "continue", "stop"$/,
        ),
      ]),
    );
    const unknown = errors(org({ 'lean.yaml': agent('  harness: { context: { compaction_model: s-nope } }\n') }));
    expect(unknown).toEqual([
      expect.stringMatching(
        /^lean\.yaml:7:\d+: agent\.harness\.context\.compaction_model: unknown model "s-nope" \(not in models\.yaml\)$/,
      ),
    ]);
  });
});

const tool = (server: string, name: string): ToolSpec => ({
  name: `${server}__${name}`,
  server,
  tool: name,
  description: name,
  inputSchema: { type: 'object' },
  readOnly: true,
  destructive: false,
  requiresApproval: false,
});

describe('deferred loading', () => {
  const base = org({}).catalog!;
  const view = { ...compileAgentView(base, 'basic') };
  const tools = [tool('a', 'one'), tool('a', 'two'), tool('b', 'three')];
  const servers = {
    a: { ...base.servers['everything']!, name: 'a', defer_loading: undefined },
    b: { ...base.servers['everything']!, name: 'b', defer_loading: false },
  };

  it("defers by default, follows the server's switch, and lets the grant override it", () => {
    expect(
      withDeferral({ ...view, servers, grants: [{ server: 'a' }, { server: 'b' }] }, tools).deferredServers,
    ).toEqual(['a']);
    expect(
      withDeferral(
        {
          ...view,
          servers,
          grants: [
            { server: 'a', deferLoading: false },
            { server: 'b', deferLoading: true },
          ],
        },
        tools,
      ).deferredServers,
    ).toEqual(['b']);
    const none = withDeferral(
      { ...view, servers, grants: [{ server: 'a', deferLoading: false }, { server: 'b' }] },
      tools,
    );
    expect(none).toEqual({ tools });
  });

  it('shows built-ins and eager tools, then loaded tools in load order, and refuses a call to one not loaded', () => {
    const deferral = withDeferral({ ...view, servers, grants: [{ server: 'a' }, { server: 'b' }] }, tools);
    const context: RunContext = { view, systemPrompt: '', ...deferral };
    const names = (loaded: string[]) => toolsShown(context, { loadedTools: loaded }).map((t) => t.name);
    expect(names([])).toEqual(['looprail__load_tools', 'b__three']);
    expect(names(['a__two', 'a__one'])).toEqual(['looprail__load_tools', 'b__three', 'a__two', 'a__one']);
    const call = { type: 'tool_call' as const, id: 'c', name: 'a__one', arguments: {} };
    expect(notLoadedRefusal(context, { loadedTools: [] }, call)).toContain('a__one is not loaded yet');
    expect(notLoadedRefusal(context, { loadedTools: ['a__one'] }, call)).toBeUndefined();
    expect(notLoadedRefusal(context, {}, { ...call, name: 'b__three' })).toBeUndefined();
  });
});

describe('compaction rules', () => {
  const user = (text: string): Message => ({ role: 'user', content: [{ type: 'text', text }] });
  const turn = (n: number): Message[] => [
    { role: 'assistant', content: [{ type: 'tool_call', id: `c${n}`, name: 'a__one', arguments: {} }] },
    {
      role: 'tool',
      content: [{ type: 'tool_result', callId: `c${n}`, name: 'a__one', content: `result ${n}`, isError: false }],
    },
  ];
  const messages = [user('the task'), ...turn(1), ...turn(2), ...turn(3), ...turn(4)];

  it('keeps the task and the last two turns, and starts the kept tail at an assistant turn', () => {
    expect(compactionSplit({}, messages)).toEqual({ from: 1, to: 5 });
    const view = contextMessages({ compaction: { through: 5, summary: 'did 1 and 2', count: 1 } }, messages);
    expect(view.map((m) => m.role)).toEqual(['user', 'user', 'assistant', 'tool', 'assistant', 'tool']);
    expect(view[1]).toEqual(summaryMessage('did 1 and 2'));
    // Already compacted up to the tail: nothing older is left to summarise.
    expect(compactionSplit({ compaction: { through: 5, summary: 's', count: 1 } }, messages)).toBeUndefined();
    expect(compactionSplit({}, [user('the task'), ...turn(1)])).toBeUndefined();
  });

  it('writes a transcript the summariser can read, long results shortened', () => {
    const long: Message = {
      role: 'tool',
      content: [{ type: 'tool_result', callId: 'c9', name: 'a__one', content: 'x'.repeat(5_000), isError: true }],
    };
    const text = transcript([...turn(1), long]);
    expect(text).toContain('[assistant called a__one] {}');
    expect(text).toContain('[result of a__one] result 1');
    expect(text).toContain(`[result of a__one, an error] ${'x'.repeat(4_000)} […1000 more characters]`);
  });
});
