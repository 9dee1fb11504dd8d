import type { GuardrailAction, GuardrailStage } from '../definitions/guardrails.ts';

/** Shared shapes of the guardrail rules. Each rule is `(text, stage, config) => Finding[]`. */

export type Stage = GuardrailStage;
export type { GuardrailAction };

/** One thing a rule found: where in the text, what kind, and what would replace it. */
export interface Finding {
  /** The rule's id as verdicts show it: `pii`, `deny_patterns.<name>`, `custom.<rule>`… */
  rule: string;
  /** What was found: a PII kind, a marker kind, `over_limit`, `no_match`, `match`. */
  kind: string;
  /** Offsets into the text the rule was given, end exclusive. */
  start: number;
  end: number;
  /** What stands in for text[start, end) when the rule's action is redact (or truncate). */
  replacement?: string;
  /** A rule's own short note (custom rules); never the matched text. */
  detail?: string;
}

/** What one rule did at one stage. Recorded on the trace, so it never quotes the text. */
export interface Verdict {
  rule: string;
  stage: Stage;
  action: GuardrailAction;
  /** Short, and never the matched value: what kind and how many. */
  detail: string;
  /** How many findings the verdict covers. */
  count: number;
}

export interface ScreenResult {
  /** The text to use: redacted and truncated, or the original text when blocked (nothing is used). */
  text: string;
  verdicts: Verdict[];
  /** The first blocking verdict in rule order, if any. */
  blocked?: Verdict;
}

export interface JsonScreenResult<T> {
  value: T;
  verdicts: Verdict[];
  blocked?: Verdict;
}

export interface CustomRuleResult {
  matched: boolean;
  /** Shown in the verdict: say what was found, never quote it. */
  detail?: string;
  /** Replaces the whole text when the rule's action is redact. */
  replacement?: string;
}

/** A team's own rule, registered by name in the rules module and referenced from the policy. */
export type CustomRule = (text: string, stage: Stage) => CustomRuleResult;
export type CustomRuleRegistry = Readonly<Record<string, CustomRule>>;

export const ACTION_VERB: Record<GuardrailAction, string> = {
  flag: 'flagged',
  redact: 'redacted',
  truncate: 'truncated',
  block: 'blocked',
};

/** `2 email, 1 phone`: how many findings of each kind, in order of first appearance. */
export function countByKind(findings: readonly Finding[]): string {
  const counts = new Map<string, number>();
  for (const finding of findings) counts.set(finding.kind, (counts.get(finding.kind) ?? 0) + 1);
  return [...counts].map(([kind, count]) => `${count} ${kind}`).join(', ');
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** The same shape, under a name that does not clash with the checker's verdict (core/definitions/run.ts). */
export type GuardrailVerdict = Verdict;
