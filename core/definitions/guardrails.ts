import { patternProblem } from '../guardrails/user-patterns.ts';
import { Count, Name } from './primitives.ts';
import * as z from './zod.ts';

/**
 * Guardrail policy: what each rule does to the text that crosses each stage of a run.
 * The same schema is used for the org-wide `guardrails.yaml` (under `guardrails:`) and for
 * an agent's own `guardrails:` section; `mergePolicies` combines the two so that an agent
 * can add rules and tighten actions but never loosen or drop what the org requires.
 */

/** Where text crosses a boundary: before it reaches a model or tool, or before it is stored. */
export const GUARDRAIL_STAGES = ['model_input', 'model_output', 'tool_input', 'tool_output'] as const;
export const GuardrailStage = z.enum(GUARDRAIL_STAGES, {
  error: 'expected a stage: model_input, model_output, tool_input or tool_output',
});
export type GuardrailStage = z.infer<typeof GuardrailStage>;

/** Every action, from the mildest to the strictest: merging only ever moves right. */
export const GUARDRAIL_ACTIONS = ['flag', 'redact', 'truncate', 'block'] as const;
export type GuardrailAction = (typeof GUARDRAIL_ACTIONS)[number];

const ACTION_SEVERITY: Record<GuardrailAction, number> = { flag: 0, redact: 1, truncate: 2, block: 3 };

/** The stricter of two actions (flag < redact < truncate < block). */
export function stricterAction<A extends GuardrailAction>(a: A, b: A): A {
  return ACTION_SEVERITY[b] > ACTION_SEVERITY[a] ? b : a;
}

function orList(values: readonly string[]): string {
  return values.length === 1 ? values[0]! : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}

function actionOf<const A extends readonly [GuardrailAction, ...GuardrailAction[]]>(actions: A) {
  return z.enum(actions, { error: `expected an action: ${orList(actions)}` });
}

/** A set of stages, kept in canonical order and without repeats. */
const Stages = z
  .pipe(
    z
      .array(GuardrailStage, { error: 'expected a list of stages, e.g. [tool_output]' })
      .check(z.minLength(1, 'expected at least one stage')),
    z.transform((stages) => GUARDRAIL_STAGES.filter((stage) => stages.includes(stage))),
  )
  .check(
    z.describe(
      'Where the rule applies: model_input, model_output, tool_input, tool_output (text before it reaches a model or tool, or before it is stored).',
    ),
  );

const ALL_STAGES = (): GuardrailStage[] => [...GUARDRAIL_STAGES];

function regex(options: { mayMatchEmpty: boolean }) {
  return z.string({ error: 'expected a regular expression (as a quoted string)' }).check(
    z.minLength(1, 'expected a regular expression'),
    z.superRefine((source, context) => {
      const problem = patternProblem(source, options);
      if (problem) context.addIssue({ code: 'custom', message: problem });
    }),
  );
}

/** Lists whose entries are referred to by name must not repeat a name. */
function uniqueBy<T>(key: (entry: T) => string, field: string, what: string) {
  return (entries: T[], context: z.core.$RefinementCtx) => {
    const seen = new Set<string>();
    entries.forEach((entry, index) => {
      const value = key(entry);
      if (seen.has(value))
        context.addIssue({
          code: 'custom',
          path: [index, field],
          message: `duplicate ${what} "${value}"; expected each ${what} once`,
        });
      seen.add(value);
    });
  };
}

/**
 * The message for a value that is not a mapping at all. Other issues (an unknown key, a
 * bad field) keep their own, more precise messages.
 */
function notAMapping(message: string) {
  return (issue: { code?: string }) => (issue.code === 'invalid_type' ? message : undefined);
}

export const PII_KINDS = ['email', 'phone', 'credit_card', 'iban', 'aws_access_key', 'private_key', 'api_key'] as const;
export const PiiKind = z.enum(PII_KINDS, { error: `expected a PII kind: ${orList(PII_KINDS)}` });
export type PiiKind = z.infer<typeof PiiKind>;

export const PiiRule = z.strictObject(
  {
    detect: z
      ._default(
        z.pipe(
          z.array(PiiKind).check(z.minLength(1, 'expected at least one PII kind')),
          z.transform((kinds) => PII_KINDS.filter((kind) => kinds.includes(kind))),
        ),
        () => [...PII_KINDS],
      )
      .check(z.describe('Which kinds to look for (default: all of them).')),
    action: z
      ._default(actionOf(['redact', 'block', 'flag']), 'redact')
      .check(z.describe('redact replaces each value with a marker; block refuses the text; flag only records it.')),
    stages: z._default(Stages, ALL_STAGES),
    allow: z
      ._default(z.array(regex({ mayMatchEmpty: true })), [])
      .check(
        z.describe(
          'Values that are never PII: each regex must match a detected value entirely (noreply@example\\.com, .*@example\\.com), so an entry cannot exempt more than it says.',
        ),
      ),
  },
  { error: notAMapping('expected pii settings: a mapping with detect, action, stages or allow') },
);
export type PiiRule = z.infer<typeof PiiRule>;

export const DenyPattern = z.strictObject(
  {
    name: Name.check(z.describe("The rule's name, as verdicts and traces name it.")),
    pattern: regex({ mayMatchEmpty: false }).check(
      z.describe('A regular expression (JavaScript syntax, quoted in YAML).'),
    ),
    ignore_case: z._default(z.boolean(), false).check(z.describe('Match letters in either case.')),
    action: z
      ._default(actionOf(['block', 'redact', 'flag']), 'block')
      .check(
        z.describe(
          'block refuses the text; redact replaces each match with `[redacted:deny:<name>]`; flag only records it.',
        ),
      ),
    stages: z._default(Stages, ALL_STAGES),
  },
  { error: notAMapping('expected a deny pattern: { name, pattern, ignore_case?, action?, stages? }') },
);
export type DenyPattern = z.infer<typeof DenyPattern>;

export const AllowPattern = z.strictObject(
  {
    name: Name.check(z.describe("The rule's name, as verdicts and traces name it.")),
    pattern: regex({ mayMatchEmpty: false }).check(
      z.describe('A regular expression (JavaScript syntax, quoted in YAML).'),
    ),
    ignore_case: z._default(z.boolean(), false).check(z.describe('Match letters in either case.')),
    group: z
      ._default(Name, 'default')
      .check(
        z.describe(
          'Patterns in one group are alternatives: text must match at least one of them. Every group that covers a stage must be satisfied, so a second group narrows, never widens.',
        ),
      ),
    action: z
      ._default(actionOf(['block', 'flag']), 'block')
      .check(
        z.describe('What happens to text that matches none of its group: block it, or only flag it (audit mode).'),
      ),
    stages: z._default(Stages, ALL_STAGES),
  },
  { error: notAMapping('expected an allow pattern: { name, pattern, ignore_case?, group?, action?, stages? }') },
);
export type AllowPattern = z.infer<typeof AllowPattern>;

export const SizeLimits = z
  .strictObject(
    {
      model_input_chars: z.optional(Count).check(z.describe('Characters of text sent to a model.')),
      model_output_chars: z.optional(Count).check(z.describe('Characters of text a model returns.')),
      tool_input_chars: z.optional(Count).check(z.describe("Characters of a tool call's arguments.")),
      tool_output_chars: z.optional(Count).check(z.describe('Characters of a tool result.')),
      action: z
        ._default(actionOf(['truncate', 'block']), 'truncate')
        .check(z.describe('truncate keeps the start and says how much was dropped; block refuses the text.')),
    },
    {
      error: notAMapping(
        'expected size_limits: a mapping with model_input_chars, model_output_chars, tool_input_chars, tool_output_chars or action',
      ),
    },
  )
  .check(
    z.refine(
      (limits) => GUARDRAIL_STAGES.some((stage) => limits[`${stage}_chars`] !== undefined),
      'expected at least one limit: model_input_chars, model_output_chars, tool_input_chars or tool_output_chars',
    ),
  );
export type SizeLimits = z.infer<typeof SizeLimits>;

export const PromptInjectionRule = z.strictObject(
  {
    action: z
      ._default(actionOf(['flag', 'block']), 'flag')
      .check(z.describe('flag records text that reads like an injection; block refuses it.')),
    stages: z
      ._default(Stages, (): GuardrailStage[] => ['model_input', 'tool_output'])
      .check(
        z.describe("Where to look (default: where text from outside comes in, the run's input and tool results)."),
      ),
  },
  { error: notAMapping('expected prompt_injection settings: a mapping with action or stages') },
);
export type PromptInjectionRule = z.infer<typeof PromptInjectionRule>;

export const CustomRuleRef = z.strictObject(
  {
    rule: Name.check(z.describe('The name the rule function is registered under in guardrails/rules.ts.')),
    action: z
      ._default(actionOf(['block', 'redact', 'flag']), 'block')
      .check(
        z.describe(
          "block refuses the text; redact replaces it with the rule's replacement (or `[redacted:custom:<rule>]`); flag only records it.",
        ),
      ),
    stages: z._default(Stages, ALL_STAGES),
  },
  { error: notAMapping('expected a custom rule: { rule, action?, stages? }') },
);
export type CustomRuleRef = z.infer<typeof CustomRuleRef>;

export const GuardrailPolicy = z.strictObject(
  {
    // A bare `pii:` key (null in YAML) means "on, with the defaults".
    pii: z
      .optional(
        z.pipe(
          z.nullable(PiiRule),
          z.transform((rule) => rule ?? PiiRule.parse({})),
        ),
      )
      .check(z.describe('Personal data and credentials found in text: a bare `pii:` turns it on with the defaults.')),
    deny_patterns: z
      ._default(
        z.array(DenyPattern).check(z.superRefine(uniqueBy((entry) => entry.name, 'name', 'deny pattern name'))),
        [],
      )
      .check(z.describe('Text that must not pass: each match is blocked, redacted or flagged.')),
    allow_patterns: z
      ._default(
        z.array(AllowPattern).check(z.superRefine(uniqueBy((entry) => entry.name, 'name', 'allow pattern name'))),
        [],
      )
      .check(z.describe('If any pattern covers a stage, text at that stage must match (see group).')),
    size_limits: z.optional(SizeLimits).check(z.describe('The longest text allowed at each stage.')),
    prompt_injection: z
      .optional(
        z.pipe(
          z.nullable(PromptInjectionRule),
          z.transform((rule) => rule ?? PromptInjectionRule.parse({})),
        ),
      )
      .check(
        z.describe(
          'Text that reads like instructions to the model: a bare `prompt_injection:` turns it on with the defaults.',
        ),
      ),
    custom: z
      ._default(z.array(CustomRuleRef).check(z.superRefine(uniqueBy((entry) => entry.rule, 'rule', 'custom rule'))), [])
      .check(z.describe('Rules written in code (guardrails/rules.ts), by name.')),
  },
  {
    error: notAMapping(
      'expected a guardrail policy: a mapping with pii, deny_patterns, allow_patterns, size_limits, prompt_injection or custom',
    ),
  },
);
export type GuardrailPolicy = z.infer<typeof GuardrailPolicy>;
export type GuardrailPolicyInput = z.input<typeof GuardrailPolicy>;

/** The org-wide `guardrails.yaml`. */
export const GuardrailsFile = z.strictObject(
  {
    guardrails: GuardrailPolicy.check(
      z.describe('The org-wide policy: every agent gets these rules, at least this strict.'),
    ),
  },
  { error: notAMapping('expected a guardrails file: a mapping with `guardrails:`') },
);
export type GuardrailsFile = z.infer<typeof GuardrailsFile>;

/** No rules at all: what applies when neither the org nor the agent declares guardrails. */
export const EMPTY_GUARDRAIL_POLICY: GuardrailPolicy = Object.freeze({
  deny_patterns: Object.freeze([]) as unknown as DenyPattern[],
  allow_patterns: Object.freeze([]) as unknown as AllowPattern[],
  custom: Object.freeze([]) as unknown as CustomRuleRef[],
});

// ---------------------------------------------------------------------------------------
// Merging: the org's policy is a floor. An agent adds rules and tightens, nothing else.
// ---------------------------------------------------------------------------------------

function unionStages(a: readonly GuardrailStage[], b: readonly GuardrailStage[]): GuardrailStage[] {
  return GUARDRAIL_STAGES.filter((stage) => a.includes(stage) || b.includes(stage));
}

/** `base`, or `base-agent`, `base-agent-2`…: a name not in `taken`, still a valid Name. */
function freeName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let n = 1; ; n++) {
    const suffix = n === 1 ? '-agent' : `-agent-${n}`;
    const candidate = `${base.slice(0, 63 - suffix.length)}${suffix}`;
    if (!taken.has(candidate)) return candidate;
  }
}

function mergePii(org: PiiRule | undefined, agent: PiiRule | undefined): PiiRule | undefined {
  if (!org || !agent) return org ?? agent;
  return {
    detect: PII_KINDS.filter((kind) => org.detect.includes(kind) || agent.detect.includes(kind)),
    action: stricterAction(org.action, agent.action),
    stages: unionStages(org.stages, agent.stages),
    // An allow entry exempts values, which loosens: when the org declares PII, only its
    // own exemptions hold. The agent's count only where the org has no PII rule at all.
    allow: [...org.allow],
  };
}

/**
 * An agent entry with the same name and pattern as an org entry tightens it (stricter
 * action, more stages). Any other agent entry is added; a name the org already uses gets a
 * `-agent` suffix so that each verdict still names exactly one rule.
 */
function mergeDeny(org: DenyPattern[], agent: DenyPattern[]): DenyPattern[] {
  const merged = org.map((entry) => ({ ...entry }));
  const names = new Set(org.map((entry) => entry.name));
  for (const extra of agent) {
    const same = merged.find(
      (entry) =>
        entry.name === extra.name && entry.pattern === extra.pattern && entry.ignore_case === extra.ignore_case,
    );
    if (same) {
      same.action = stricterAction(same.action, extra.action);
      same.stages = unionStages(same.stages, extra.stages);
      continue;
    }
    const name = freeName(extra.name, names);
    names.add(name);
    merged.push({ ...extra, name });
  }
  return merged;
}

/**
 * Allow patterns are alternatives within a group, so an agent pattern added to an org
 * group would let more text through. Agent patterns therefore keep a group of their own:
 * text must then satisfy the org's group and the agent's.
 */
function mergeAllow(org: AllowPattern[], agent: AllowPattern[]): AllowPattern[] {
  const orgGroups = new Set(org.map((entry) => entry.group));
  const names = new Set(org.map((entry) => entry.name));
  const renamedGroups = new Map<string, string>();
  const takenGroups = new Set([...orgGroups, ...agent.map((entry) => entry.group)]);
  const merged = [...org];
  for (const extra of agent) {
    let group = renamedGroups.get(extra.group) ?? extra.group;
    if (orgGroups.has(extra.group) && !renamedGroups.has(extra.group)) {
      group = freeName(extra.group, takenGroups);
      takenGroups.add(group);
      renamedGroups.set(extra.group, group);
    }
    const name = freeName(extra.name, names);
    names.add(name);
    merged.push({ ...extra, name, group });
  }
  return merged;
}

function mergeSize(org: SizeLimits | undefined, agent: SizeLimits | undefined): SizeLimits | undefined {
  if (!org || !agent) return org ?? agent;
  const merged: SizeLimits = { action: stricterAction(org.action, agent.action) };
  for (const stage of GUARDRAIL_STAGES) {
    const key = `${stage}_chars` as const;
    const limits = [org[key], agent[key]].filter((limit): limit is number => limit !== undefined);
    if (limits.length > 0) merged[key] = Math.min(...limits);
  }
  return merged;
}

function mergeInjection(
  org: PromptInjectionRule | undefined,
  agent: PromptInjectionRule | undefined,
): PromptInjectionRule | undefined {
  if (!org || !agent) return org ?? agent;
  return { action: stricterAction(org.action, agent.action), stages: unionStages(org.stages, agent.stages) };
}

/** The same rule name is the same function: merged entries tighten; new names are added. */
function mergeCustom(org: CustomRuleRef[], agent: CustomRuleRef[]): CustomRuleRef[] {
  const merged = org.map((entry) => ({ ...entry }));
  for (const extra of agent) {
    const same = merged.find((entry) => entry.rule === extra.rule);
    if (same) {
      same.action = stricterAction(same.action, extra.action);
      same.stages = unionStages(same.stages, extra.stages);
    } else {
      merged.push({ ...extra });
    }
  }
  return merged;
}

/**
 * The effective policy for an agent: every org rule, at least as strict as the org set it,
 * plus whatever the agent adds. An agent asking for a looser action on an org rule gets
 * the org's; an agent cannot remove a rule, a stage, a PII kind or a size limit.
 */
export function mergePolicies(org: GuardrailPolicy | undefined, agent: GuardrailPolicy | undefined): GuardrailPolicy {
  const base = org ?? EMPTY_GUARDRAIL_POLICY;
  const extra = agent ?? EMPTY_GUARDRAIL_POLICY;
  const pii = mergePii(base.pii, extra.pii);
  const sizeLimits = mergeSize(base.size_limits, extra.size_limits);
  const promptInjection = mergeInjection(base.prompt_injection, extra.prompt_injection);
  return {
    ...(pii && { pii }),
    deny_patterns: mergeDeny(base.deny_patterns, extra.deny_patterns),
    allow_patterns: mergeAllow(base.allow_patterns, extra.allow_patterns),
    ...(sizeLimits && { size_limits: sizeLimits }),
    ...(promptInjection && { prompt_injection: promptInjection }),
    custom: mergeCustom(base.custom, extra.custom),
  };
}
