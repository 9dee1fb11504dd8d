import type { InstructionsDoc, ModelEntry } from './catalog.ts';
import type { SkillPin } from './skills.ts';
import type { BudgetDeclaration, McpServerDeclaration } from './org.ts';
import type { GuardrailPolicy } from './guardrails.ts';
import type { Role } from './run.ts';
import type { NotifyTarget } from './agent.ts';
import type { SandboxSpec } from './sandbox.ts';
import type { MemoryPolicy } from './memory.ts';
import type { VerifyCheck } from './verify-checks.ts';

/** A server grant with its patterns normalised. */
export interface Grant {
  server: string;
  allow?: string[];
  deny?: string[];
  /** The agent's override of the server's defer_loading. */
  deferLoading?: boolean;
}

export interface ResolvedLimits {
  maxSteps: number;
  maxTokens?: number;
  maxCostMicros?: number;
  maxOutputTokens: number;
  maxDurationSeconds?: number;
  stallMaxRepeats: number;
  onDeniedTool: 'continue' | 'stop';
  onToolInDoubt: 'continue' | 'stop';
  maxToolCallsPerTurn: number;
  /** Delegation depth below a root run; absent in snapshots taken before delegation existed. */
  maxDepth?: number;
  /** Absent in snapshots taken before offloading existed: the defaults apply. */
  offload?: { resultTokens: number; turnTokens: number; previewChars: number };
  /** Absent in older snapshots: no compaction. */
  compaction?: { at: number; model?: ModelEntry; onFailure: 'continue' | 'stop' };
}

export interface ApprovalRule {
  pattern: string;
  approvers: string[];
  timeoutSeconds: number;
  onReject: 'continue' | 'stop';
  /** Two distinct approvers must approve. */
  twoPerson?: boolean;
  /** A reminder to the approvers this long before the approval expires (absent: none). */
  remindBeforeSeconds?: number;
  /** This long after the request, `escalateTo` may decide too and is mailed links (absent: no escalation). */
  escalateAfterSeconds?: number;
  escalateTo?: string[];
}

/**
 * Everything needed to run one agent or sub-agent, resolved from the catalog when the
 * run starts and stored with it: a redeploy mid-run never changes a running loop.
 */
export interface AgentView {
  agent: string;
  /** Set for a sub-agent: its declared name. */
  subagent?: string;
  role: Role;
  team?: string;
  owner?: string;
  /** A hash of the definition, its instructions and skills. */
  version: string;
  instructions: InstructionsDoc;
  /**
   * The skills the model may load (names and descriptions only: a body costs tokens only
   * when loaded), filled by StartRun from the registry's verified versions.
   */
  skills: MountedSkill[];
  /** The sub-agents this maker may delegate to (absent: none). */
  delegates?: DelegateTarget[];
  /** The agent's skill pins as locked; StartRun resolves them into `skills`. */
  skillPins?: SkillPin[];
  model: ModelEntry;
  fallbackModel?: ModelEntry;
  grants: Grant[];
  servers: Record<string, McpServerDeclaration>;
  limits: ResolvedLimits;
  approvals: ApprovalRule[];
  /** The agent's request rate limit (budgets.yaml limits). */
  rateLimit?: { requestsPerMinute: number; onRateLimited: 'wait' | 'stop' };
  /** The org's budgets that can apply to this identity's calls (by agent, team, model or principal). */
  budgets?: BudgetDeclaration[];
  /** Every write waits for a human once the run has read untrusted content. */
  approveWritesAfterUntrusted?: boolean;
  /** The org's guardrails merged with the agent's own: screens every model and tool call. */
  guardrails?: GuardrailPolicy;
  /** The run's sandbox (agent.sandbox), shared by the maker and its checker; price from models.yaml `sandbox:`. */
  sandbox?: {
    spec: SandboxSpec;
    pricePerHourMicros: number /** The agent that declares it: on AWS, whose task definition runs it. */;
    agent: string;
  };
  /** Where the run's outcome is sent (maker only); absent in snapshots taken before notifications existed. */
  notify?: NotifyTarget[];
  /** The agent's work ledger and handoff note (agent.memory); a checker may only read them. */
  memory?: MemoryPolicy;
  verify?: {
    criteria?: string;
    maxAttempts: number;
    checker: AgentView;
    /** Deterministic checks run before the checker, in order (core/run/verify-checks.ts). */
    checks?: VerifyCheck[];
    /** Tools held until verification passes, as server.tool (core/policy/verify-release.ts). */
    release?: string[];
  };
}

/** A registry skill version a run may load, as its snapshot records it. */
export interface MountedSkill {
  name: string;
  version: string;
  description: string;
  sha256: string;
}

/** A sub-agent the maker may delegate to (a `looprail__delegate` call naming it). */
export interface DelegateTarget {
  name: string;
  description?: string;
  /** Set when the sub-agent is another agent of the org, run with its own definition. */
  agent?: string;
}

/** A tool the model may see and call, as the model sees it. */
export interface ToolSpec {
  /** `server__tool`: unique across the run's servers. */
  name: string;
  server: string;
  tool: string;
  description: string;
  inputSchema: Record<string, unknown>;
  readOnly: boolean;
  destructive: boolean;
  requiresApproval: boolean;
  /** Org-wide: calls per minute across every agent and run. */
  rateLimitPerMinute?: number;
  /** looprail's own tools (the checker's verdict) run inside the step, not on a server. */
  builtin?: boolean;
}

/** The run's snapshot (`RUN#id / CTX`), written once by StartRun. */
export interface RunContext {
  view: AgentView;
  systemPrompt: string;
  tools: ToolSpec[];
  /** Servers whose tools the model loads on demand (looprail__load_tools); their schemas stay out until then. */
  deferredServers?: string[];
}

export const TOOL_NAME_SEPARATOR = '__';

export function modelToolName(server: string, tool: string): string {
  return `${server}${TOOL_NAME_SEPARATOR}${tool}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

/** How people read and write a tool (traces, inventory, approval rules, validate): `server.tool`. */
export function peopleToolName(server: string, tool: string): string {
  return `${server}.${tool}`;
}

/** A model's name for a tool (`server__tool`) as people read it (`server.tool`); other names pass unchanged. */
export function readableToolName(modelName: string): string {
  const at = modelName.indexOf(TOOL_NAME_SEPARATOR);
  return at > 0 ? peopleToolName(modelName.slice(0, at), modelName.slice(at + TOOL_NAME_SEPARATOR.length)) : modelName;
}

/**
 * The name a model calls for a tool written either way: `server.tool`, as people read it, is
 * accepted wherever they write a call (scripts), and becomes `server__tool`; other names pass unchanged.
 */
export function callableToolName(name: string): string {
  const dot = name.indexOf('.');
  if (dot <= 0 || name.includes(TOOL_NAME_SEPARATOR)) return name;
  return modelToolName(name.slice(0, dot), name.slice(dot + 1));
}
