import { describe, expect, it } from 'vitest';
import { loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import { identitiesOf } from '../../core/definitions/identity.ts';
import { compileAgentView, compileSubagentView } from '../../core/run/agent-view.ts';
import { delegateRunId } from '../../core/run/delegate.ts';
import { delegateTool } from '../../core/loop/prompt.ts';

/** What a definition with sub-agents compiles to: whom the maker may delegate to, and as which identity each runs. */

const catalog = async (dir: string) => (await loadOrgFolder(dir)).catalog!;

describe('delegation targets', () => {
  it('are the declared sub-agents except the checker, with the depth limit defaulted', async () => {
    const lead = compileAgentView(await catalog('test/fixtures/delegation-org'), 'lead');
    expect(lead.delegates).toEqual([
      { name: 'researcher', description: 'reads and summarises', agent: undefined },
      { name: 'deputy', description: 'another lead, for a part of the plan', agent: 'lead' },
    ]);
    expect(lead.limits.maxDepth).toBe(2);
    const basic = compileAgentView(await catalog('test/fixtures/loop-org'), 'basic');
    expect(basic.delegates).toBeUndefined(); // its only sub-agent is its checker
    expect(basic.limits.maxDepth).toBe(2);
  });

  it('run as themselves: a declared one with its own model and instructions, under its own identity', async () => {
    const org = await catalog('test/fixtures/delegation-org');
    const researcher = compileSubagentView(org, 'lead', 'researcher');
    expect(researcher).toMatchObject({
      agent: 'lead',
      subagent: 'researcher',
      role: 'maker',
      model: { name: 's-researcher' },
    });
    expect(researcher.delegates).toBeUndefined();
    expect(() => compileSubagentView(org, 'lead', 'nobody')).toThrow('agent "lead" declares no sub-agent "nobody"');
    // A sub-agent that is another org agent has no role of its own: it runs as that agent.
    expect(identitiesOf(org).map((identity) => identity.name)).toEqual(['lead', 'lead.researcher']);
  });

  it('are offered as one tool naming only them, and each delegating call maps to one child run id', () => {
    const tool = delegateTool([{ name: 'researcher', description: 'reads' }, { name: 'deputy' }]);
    expect(tool).toMatchObject({ name: 'looprail__delegate', builtin: true, readOnly: false });
    expect((tool.inputSchema.properties as { agent: { enum: string[] } }).agent.enum).toEqual(['researcher', 'deputy']);
    const id = delegateRunId('r-mwuf0tx1-025e5c27a40b', 'call-0-1');
    expect(id).toBe(delegateRunId('r-mwuf0tx1-025e5c27a40b', 'call-0-1'));
    expect(id).not.toBe(delegateRunId('r-mwuf0tx1-025e5c27a40b', 'call-0-2'));
    // Execution names are at most 80 characters: however deep the delegation, the id (and a checker's) fits.
    let deep = `r-${'a'.repeat(32)}`;
    for (let depth = 0; depth < 10; depth++) deep = delegateRunId(deep, `call-${depth}`);
    expect(`${deep}-check9`.length).toBeLessThanOrEqual(80);
  });
});
