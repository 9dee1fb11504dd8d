import type { StartedRunState } from '../load.ts';
import type { BuiltinTool } from './builtin.ts';
import { delegateTool } from './delegate.ts';
import { loadSkillTool } from './load-skill.ts';
import { loadToolsTool } from './load-tools.ts';
import { readResultTool } from './read-result.ts';
import { readSkillFileTool } from './read-skill-file.ts';
import { ledgerClaimTool, ledgerDoneTool, ledgerListTool, ledgerNoteTool } from './ledger.ts';

/**
 * looprail's own tools the ToolStep answers itself. A new one is a file beside these and a
 * line here (its spec is offered by StartRun or the model step, its record field in patch.ts).
 * The checker's verdict is not here: the model step reads it from the checker's answer.
 */
const BUILTIN_TOOLS: readonly BuiltinTool[] = [
  loadSkillTool,
  readSkillFileTool,
  loadToolsTool,
  readResultTool,
  delegateTool,
  ledgerListTool,
  ledgerClaimTool,
  ledgerDoneTool,
  ledgerNoteTool,
];

const BY_NAME = new Map(BUILTIN_TOOLS.map((tool) => [tool.name, tool]));

/** The built-in tool a call names, when this run offers it; otherwise the call goes the governed way. */
export function builtinFor(state: StartedRunState, name: string): BuiltinTool | undefined {
  const tool = BY_NAME.get(name);
  return tool?.offered(state) ? tool : undefined;
}
