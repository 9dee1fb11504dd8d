import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../core/definitions/problems.ts';
import { validateOrg } from '../../core/definitions/validate.ts';
import { orgFiles } from '../support/org-files.ts';

/**
 * A tool has one name where people write and read it (`server.tool`: traces, inventory, approval
 * rules) and another where models call it (`server__tool`). Where a definition uses the wrong one,
 * the rule would silently do nothing (an approval that never pauses, a deny that denies nothing):
 * validate refuses it and names the form to write. Scripts and eval cases take either form.
 */

const DEMO = orgFiles('agents');
const AGENT = 'morning-triage.yaml';
const DEMO_AGENT = DEMO.get(AGENT)!;

function problems(agentText: string): string[] {
  const files = new Map(DEMO).set(AGENT, agentText);
  return validateOrg([...files].map(([path, text]) => ({ path, display: path, text }))).problems.map(formatProblem);
}

describe('tool names in approval rules', () => {
  it('refuses a rule naming a tool as models call it, with the form to write', () => {
    const found = problems(
      DEMO_AGENT.replace('    team-memory.create_relations:', '    team-memory__create_relations:'),
    );
    expect(found).toContainEqual(
      expect.stringMatching(
        /^morning-triage\.yaml:\d+:\d+: agent\.approvals\.team-memory__create_relations: approval rule "team-memory__create_relations" names the tool as models call it, so it would pause nothing: approval rules name tools as traces and the inventory do, server\.tool: write "team-memory\.create_relations"$/,
      ),
    );
  });

  it("accepts the demo's rule as people write it; a rule matching nothing else stays a warning", () => {
    expect(problems(DEMO_AGENT)).toEqual([]);
    expect(
      problems(DEMO_AGENT.replace('  approvals:\n', '  approvals:\n    nothing__here: pause_for_human\n')),
    ).toEqual([
      expect.stringContaining(
        'warning: agent.approvals.nothing__here: approval rule "nothing__here" matches no tool this agent is granted',
      ),
    ]);
  });
});

describe('tool names in allow and deny', () => {
  const grant = (key: string, pattern: string) =>
    DEMO_AGENT.replace('      deny: [delete_*]', `      ${key}: [${pattern}]`);

  it.each([
    ['deny', 'team-memory__delete_entities'],
    ['deny', 'team-memory.delete_*'],
    ['allow', 'team-memory.read_graph'],
  ])('refuses %s: [%s], naming the tool without its server', (key, pattern) => {
    const bare = pattern.replace(/^team-memory(\.|__)/, '');
    expect(problems(grant(key, pattern))).toContainEqual(
      expect.stringContaining(
        `: "${pattern}" names no tool: ${key} lists the tools of team-memory without the server, as mcp-servers/team-memory.yaml declares them: write "${bare}"`,
      ),
    );
  });

  it('accepts the bare tool name', () => {
    expect(problems(grant('deny', 'delete_entities'))).toEqual([]);
  });
});
