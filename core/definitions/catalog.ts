import type { AgentSpec, TriggerSpec } from './agent.ts';
import type { BudgetsFile, McpServerDeclaration, ModelDeclaration, ModelScript } from './org.ts';
import type { GuardrailPolicy } from './guardrails.ts';
import type { SandboxPricing } from './sandbox.ts';
import type { SkillPin, SkillsPolicyFile } from './skills.ts';

/**
 * The validated org folder: what `looprail validate` checks, what `cdk synth` bundles,
 * and what a run snapshots. Built by core/definitions/validate.ts from file texts.
 */

export interface InstructionsDoc {
  /** As written in the definition, relative to the agent file. */
  path: string;
  /** Relative to the org folder: the key `looprail.lock.yaml` records it under. */
  file?: string;
  version: string;
  text: string;
  sha256: string;
}

/** A skill source in the org folder (`skills/<name>/SKILL.md`): what `looprail skills publish` reads. */
export interface SkillDoc {
  name: string;
  version: string;
  description: string;
  content: string;
  sha256: string;
}

export interface ModelEntry {
  name: string;
  declaration: ModelDeclaration;
  /** The parsed script, for the scripted provider; runs never read files. */
  script?: ModelScript;
}

export interface AgentEntry {
  file: string;
  spec: AgentSpec;
  trigger?: TriggerSpec;
  instructions: InstructionsDoc;
  /** Instructions of sub-agents that declare their own. */
  subagentInstructions: Record<string, InstructionsDoc>;
  /** The agent's skills as `looprail lock` resolved them in the registry. */
  skillPins?: SkillPin[];
}

export interface Catalog {
  agents: Record<string, AgentEntry>;
  models: Record<string, ModelEntry>;
  servers: Record<string, McpServerDeclaration>;
  skills: Record<string, SkillDoc>;
  secrets: string[];
  budgets: BudgetsFile;
  /** The org-wide guardrails (guardrails.yaml), under every agent's own. */
  guardrails?: GuardrailPolicy;
  /** What sandbox time costs (models.yaml `sandbox:`); free when absent. */
  sandboxPricing?: SandboxPricing;
  /** Who may publish which skill to the registry (skills.yaml). */
  skillsPolicy?: SkillsPolicyFile;
}

/** The agent named so, or undefined: a name such as `constructor` is an unknown agent, not an inherited key. */
export function agentEntry(catalog: Pick<Catalog, 'agents'>, name: string): AgentEntry | undefined {
  return Object.hasOwn(catalog.agents, name) ? catalog.agents[name] : undefined;
}
