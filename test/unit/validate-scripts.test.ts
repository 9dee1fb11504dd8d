import { describe, expect, it } from 'vitest';
import { callableToolName } from '../../core/definitions/context.ts';
import { formatProblem } from '../../core/definitions/problems.ts';
import { validateOrg } from '../../core/definitions/validate.ts';
import { orgFiles } from '../support/org-files.ts';

/**
 * A scripted model's turns checked against the agents that play them (core/definitions/validate-scripts.ts):
 * the mistakes a first script makes (a deferred tool called before it is loaded, a tool not granted,
 * a misspelled name) are reported at the call's line, with what to do.
 */

const DEMO = orgFiles('agents');
const MAKER_SCRIPT = 'scripts/triage-maker.yaml';

function problems(overrides: Record<string, string>): string[] {
  const merged = new Map(DEMO);
  for (const [path, text] of Object.entries(overrides)) merged.set(path, text);
  const result = validateOrg([...merged].map(([path, text]) => ({ path, display: path, text })));
  return result.problems.map(formatProblem);
}

/** The demo's team-memory server with its tools deferred (the default when a server does not say). */
const DEFERRED_MEMORY = DEMO.get('mcp-servers/team-memory.yaml')!.replace('defer_loading: false', '');

const script = (turns: string) => `turns:\n${turns}`;

describe('scripted turns against the tools their agent is granted', () => {
  it('accepts the demo, whose calls are all granted and not deferred', () => {
    expect(problems({})).toEqual([]);
  });

  it('reports a deferred tool called before looprail__load_tools, at its line, with the call that loads it', () => {
    const found = problems({ 'mcp-servers/team-memory.yaml': DEFERRED_MEMORY });
    expect(found).toContain(
      `${MAKER_SCRIPT}:17:15: warning: turns[1].tool_calls[2].tool: agent "morning-triage": team-memory.search_nodes is not loaded yet at turn 2 (team-memory defers its tools), so the run would refuse the call: call looprail__load_tools with {"server":"team-memory","tools":["search_nodes"]} in an earlier turn, or set defer_loading: false on the grant`,
    );
    // The checker is granted team-memory too, and plays its own script.
    expect(
      found.some(
        (line) => line.startsWith('scripts/triage-checker.yaml:') && line.includes('sub-agent "triage-reviewer"'),
      ),
    ).toBe(true);
  });

  it('accepts a deferred tool loaded in an earlier turn, and still refuses one loaded in the same turn', () => {
    const found = problems({
      'mcp-servers/team-memory.yaml': DEFERRED_MEMORY,
      [MAKER_SCRIPT]: script(
        [
          '  - tool_calls:',
          '      - { tool: looprail__load_tools, arguments: { server: team-memory, tools: [search_nodes] } }',
          '      - { tool: team-memory__search_nodes, arguments: { query: a } }',
          '  - tool_calls:',
          '      - { tool: team-memory.search_nodes, arguments: { query: b } }',
          '      - { tool: team-memory__create_entities, arguments: { entities: [] } }',
          '  - text: done',
        ].join('\n'),
      ),
    });
    const maker = found.filter((line) => line.startsWith(MAKER_SCRIPT));
    expect(maker).toEqual([
      expect.stringMatching(
        /^scripts\/triage-maker\.yaml:4:17: .*team-memory\.search_nodes is not loaded yet at turn 1/,
      ),
      expect.stringMatching(
        /^scripts\/triage-maker\.yaml:7:17: .*team-memory\.create_entities is not loaded yet at turn 2/,
      ),
    ]);
  });

  it('takes the name people read, server.tool, as the same tool as server__tool', () => {
    expect(
      problems({
        [MAKER_SCRIPT]: script(
          '  - tool_calls: [{ tool: team-memory.search_nodes, arguments: { query: a } }]\n  - text: done',
        ),
      }),
    ).toEqual([]);
    expect(callableToolName('team-memory.search_nodes')).toBe('team-memory__search_nodes');
    expect(callableToolName('team-memory__search_nodes')).toBe('team-memory__search_nodes');
    expect(callableToolName('looprail.load_tools')).toBe('looprail__load_tools');
    expect(callableToolName('no_server')).toBe('no_server');
  });

  it('reports a tool denied to the agent, one the server does not declare, and a name of no server', () => {
    const found = problems({
      [MAKER_SCRIPT]: script(
        [
          '  - tool_calls:',
          '      - { tool: team-memory.delete_entities, arguments: {} }',
          '      - { tool: team-memory__create_entity, arguments: {} }',
          '      - { tool: memory__create_entities, arguments: {} }',
          '      - { tool: looprail__verdict, arguments: {} }',
          '  - text: done',
        ].join('\n'),
      ),
    });
    expect(found).toEqual([
      expect.stringMatching(
        /^scripts\/triage-maker\.yaml:3:17: warning: turns\[0\]\.tool_calls\[0\]\.tool: agent "morning-triage": team-memory\.delete_entities is not granted, so the run would refuse the call: add team-memory to mcp_servers \(or delete_entities to its allow list\), or call one of: ci-reports\.list_directory, /,
      ),
      expect.stringContaining(
        `${MAKER_SCRIPT}:4:17: warning: turns[0].tool_calls[1].tool: agent "morning-triage": "team-memory__create_entity" is not a tool of team-memory (mcp-servers/team-memory.yaml declares: read_graph,`,
      ),
      expect.stringContaining(
        `${MAKER_SCRIPT}:5:17: warning: turns[0].tool_calls[2].tool: agent "morning-triage": "memory__create_entities" is not a tool this agent may use: expected server.tool (or server__tool) of a granted tool, one of: ci-reports.list_directory,`,
      ),
      expect.stringContaining(
        `${MAKER_SCRIPT}:6:17: warning: turns[0].tool_calls[3].tool: agent "morning-triage": "looprail__verdict" is not a built-in this role is offered (it has: looprail__load_skill, looprail__read_result, looprail__read_skill_file)`,
      ),
    ]);
  });
});
