import { describe, expect, it } from 'vitest';
import { validateOrg } from '../../core/definitions/validate.ts';
import { compileAgentView } from '../../core/run/agent-view.ts';
import { buildInventory } from '../../core/policy/inventory.ts';
import { inventoryText } from '../../cli/output/inventory-table.ts';
import { heldCallReason } from '../../core/policy/verify-release.ts';
import { orgErrors, orgFiles } from '../support/org-files.ts';

/** `verify.release`: its validation (file, line, field) and the rule a call meets before and after verification. */

const ORG = orgFiles('test/fixtures/checks-org');

const errors = (overrides: Record<string, string>) => orgErrors(ORG, overrides);

const agent = (release: string) => `agent:
  name: box
  owner: tests@example.com
  model: s-stubborn
  instructions: ./instructions.md@v1
  mcp_servers: [{ name: published, allow: [read_graph, create_entities] }]
  subagents: [{ name: reviewer, model: s-checks-checker, instructions: ./checker.md@v1 }]
  verify:
    checker: reviewer
    release: ${release}
`;

describe('verify.release in the definition', () => {
  it('carries the held tools into the run snapshot', () => {
    const result = validateOrg([...ORG].map(([path, text]) => ({ path, display: path, text })));
    expect(result.problems).toEqual([]);
    expect(compileAgentView(result.catalog!, 'releaser').verify!.release).toEqual(['published.create_entities']);
    expect(compileAgentView(result.catalog!, 'tester').verify!.release).toBeUndefined();
    // The inventory says what waits for verification, beside what the agent can call.
    const releaser = buildInventory(result.catalog!).find((entry) => entry.agent === 'releaser')!;
    expect(releaser.heldUntilVerified).toEqual(['published.create_entities']);
    expect(inventoryText([releaser])).toContain('\n  held until verified: published.create_entities\n');
  });

  it('refuses a tool that is read-only, not granted, unknown, listed twice, or named as models call it', () => {
    expect(
      errors({
        'box.yaml': agent(
          '[published.read_graph, notes.create_entities, ci.push, published.create_entities, published.create_entities, published__create_entities]',
        ),
      }),
    ).toEqual([
      'box.yaml:10:123: agent.verify.release[5]: expected server.tool: "published__create_entities" is how models call the tool; write "published.create_entities"',
    ]);
    expect(
      errors({
        'box.yaml': agent(
          '[published.read_graph, notes.create_entities, ci.push, published.create_entities, published.create_entities]',
        ),
      }),
    ).toEqual([
      'box.yaml:10:15: agent.verify.release[0]: published.read_graph is read-only, and a read-only tool runs at any time: holding it until verification would hold nothing; list the tools that act on the verified work',
      "box.yaml:10:37: agent.verify.release[1]: the agent is not granted notes.create_entities: grant it under agent.mcp_servers (it must be declared on notes's tools)",
      'box.yaml:10:60: agent.verify.release[2]: unknown server "ci": declare it in mcp-servers/ and grant it under agent.mcp_servers',
      'box.yaml:10:96: agent.verify.release[4]: published.create_entities is listed twice',
    ]);
    expect(errors({ 'box.yaml': agent('[]') })).toEqual([
      'box.yaml:10:14: agent.verify.release: expected at least one tool, as server.tool',
    ]);
  });
});

describe('the rule a call meets', () => {
  const release = ['git.git_push'];
  const push = { server: 'git', tool: 'git_push' };
  const commit = { server: 'git', tool: 'git_commit' };
  const status = { server: 'git', tool: 'git_status', readOnly: true };

  it('holds a listed tool until verification passes, and lets everything else run', () => {
    expect(heldCallReason(release, false, push)).toMatch(
      /^not yet, so the call was not made: git\.git_push runs only after/,
    );
    expect(heldCallReason(release, false, commit)).toBeUndefined();
    expect(heldCallReason(release, false, status)).toBeUndefined();
  });

  it('after verification runs the released tools and read-only ones, and nothing that could change the verified work', () => {
    expect(heldCallReason(release, true, push)).toBeUndefined();
    expect(heldCallReason(release, true, status)).toBeUndefined();
    expect(heldCallReason(release, true, commit)).toBe(
      'not made: verification has passed, so the verified work may not change; only git.git_push, read-only tools and loop memory run now',
    );
  });

  it('holds nothing for an agent without verify.release', () => {
    expect(heldCallReason(undefined, false, push)).toBeUndefined();
    expect(heldCallReason(undefined, true, commit)).toBeUndefined();
  });
});
