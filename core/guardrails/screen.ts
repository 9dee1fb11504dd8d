import type {
  CustomRuleRef,
  DenyPattern,
  GuardrailPolicy,
  PiiRule,
  PromptInjectionRule,
} from '../definitions/guardrails.ts';
import { allowGroupsFor, checkAllowPatterns, describeAllow, type AllowGroup } from './allow-patterns.ts';
import { assertCustomRulesRegistered, customRuleId, describeCustom, runCustomRule } from './custom.ts';
import { denyRuleId, describeDeny, matchDenyPattern } from './deny-patterns.ts';
import { describePii, detectPii, PII_RULE } from './pii.ts';
import { describeInjection, detectPromptInjection, INJECTION_RULE } from './prompt-injection.ts';
import {
  checkSizeLimit,
  describeSize,
  SIZE_RULE,
  sizeLimitFor,
  truncationMarker,
  type StageLimit,
} from './size-limits.ts';
import type {
  CustomRuleRegistry,
  Finding,
  GuardrailAction,
  JsonScreenResult,
  ScreenResult,
  Stage,
  Verdict,
} from './types.ts';

/**
 * Screens text crossing a stage against a policy.
 *
 * Rule order (fixed; verdicts are listed in it and the first block in it is `blocked`):
 *
 *  1. size_limits first. Everything past the limit is dropped, so scanning it would be
 *     wasted work, and a hostile tool output of many megabytes must not buy itself a regex
 *     scan of every byte. The later rules see the kept start plus a short overlap, so a
 *     secret straddling the cut is still recognised and redacted whole (the cut then moves
 *     to the end of its replacement). A size block stops here: nothing will be used.
 *  2. allow_patterns: the org's explicit "only this".
 *  3. deny_patterns: the org's explicit "never this", in the order declared.
 *  4. pii: credentials and personal data.
 *  5. prompt_injection: heuristic markers.
 *  6. custom: the team's own rules, in the order declared.
 *
 * Every rule sees the same bounded, unredacted text, so no rule is confused by another's
 * replacement tokens. Their redactions are merged where they overlap and applied once,
 * right to left, so each one's offsets still hold when it is applied.
 */

/** How far past a size cut the detectors look, to see a value that straddles it whole. */
const CUT_OVERLAP = 512;

interface RuleRun {
  rule: string;
  action: GuardrailAction;
  findings: Finding[];
  /** The verdict's detail, from however many findings (one text's, or a whole JSON value's). */
  describe: (findings: readonly Finding[]) => string;
}

/** The rules that apply at one stage, in rule order. */
interface StagePlan {
  stage: Stage;
  size?: StageLimit;
  allow: AllowGroup[];
  deny: DenyPattern[];
  pii?: PiiRule;
  injection?: PromptInjectionRule;
  custom: CustomRuleRef[];
}

function planFor(policy: GuardrailPolicy, stage: Stage): StagePlan {
  const applies = (rule: { stages: readonly Stage[] } | undefined) => rule?.stages.includes(stage);
  return {
    stage,
    size: sizeLimitFor(policy.size_limits, stage),
    allow: allowGroupsFor(policy.allow_patterns, stage),
    deny: policy.deny_patterns.filter(applies),
    pii: applies(policy.pii) ? policy.pii : undefined,
    injection: applies(policy.prompt_injection) ? policy.prompt_injection : undefined,
    custom: policy.custom.filter(applies),
  };
}

/** Rule ids in rule order: sorts verdicts gathered from many texts. */
function ruleOrder(plan: StagePlan): string[] {
  return [
    SIZE_RULE,
    ...plan.allow.map((group) => group.rule),
    ...plan.deny.map(denyRuleId),
    PII_RULE,
    INJECTION_RULE,
    ...plan.custom.map(customRuleId),
  ];
}

function sizeRun(plan: StagePlan, size: StageLimit, findings: Finding[]): RuleRun {
  return {
    rule: SIZE_RULE,
    action: size.action,
    findings,
    describe: (all) => describeSize(all, plan.stage, size.limit, size.action),
  };
}

function allowRuns(plan: StagePlan, text: string, texts = 1): RuleRun[] {
  return plan.allow.map((group) => ({
    rule: group.rule,
    action: group.action,
    findings: checkAllowPatterns(text, group),
    describe: () => describeAllow(group, plan.stage, group.action, texts),
  }));
}

export interface Redaction {
  start: number;
  end: number;
  replacement: string;
}

/**
 * Overlapping redactions become one: the union of their spans, replaced by the token of the
 * widest (a card number inside a deny-pattern match is one `[redacted:deny:…]`, not two
 * tokens over half-replaced text). Touching spans stay separate.
 */
export function mergeRedactions(findings: readonly Finding[]): Redaction[] {
  const sorted = findings
    .filter((finding) => finding.replacement !== undefined && finding.end > finding.start)
    .sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: Array<Redaction & { width: number }> = [];
  for (const finding of sorted) {
    const width = finding.end - finding.start;
    const last = merged.at(-1);
    if (last && finding.start < last.end) {
      if (width > last.width) {
        last.replacement = finding.replacement!;
        last.width = width;
      }
      last.end = Math.max(last.end, finding.end);
    } else {
      merged.push({ start: finding.start, end: finding.end, replacement: finding.replacement!, width });
    }
  }
  return merged.map(({ start, end, replacement }) => ({ start, end, replacement }));
}

/** Applies sorted, non-overlapping redactions from the last to the first. */
export function applyRedactions(text: string, redactions: readonly Redaction[]): string {
  const parts: string[] = [];
  let tail = text.length;
  for (let i = redactions.length - 1; i >= 0; i--) {
    const redaction = redactions[i]!;
    parts.push(text.slice(redaction.end, tail), redaction.replacement);
    tail = redaction.start;
  }
  parts.push(text.slice(0, tail));
  return parts.reverse().join('');
}

interface Analysis {
  runs: RuleRun[];
  /** The text after redaction and truncation; unused when a run blocks. */
  output: string;
}

/**
 * Runs the plan's rules over one text. `sizeLimit` overrides the stage's limit when several
 * texts share one budget; `allow` is off when the caller checks allow patterns itself.
 */
function analyze(
  text: string,
  plan: StagePlan,
  registry: CustomRuleRegistry,
  options: { sizeLimit?: number; allow: boolean },
): Analysis {
  const runs: RuleRun[] = [];
  const add = (run: RuleRun) => {
    if (run.findings.length > 0) runs.push(run);
  };
  let cut = text.length;
  let scanned = text;
  if (plan.size) {
    const findings = checkSizeLimit(text, plan.stage, options.sizeLimit ?? plan.size.limit);
    if (findings.length > 0) {
      runs.push(sizeRun(plan, plan.size, findings));
      if (plan.size.action === 'block') return { runs, output: text };
      cut = findings[0]!.start;
      scanned = text.slice(0, cut + CUT_OVERLAP);
    }
  }
  // Whole-text judgements see exactly what is kept; detectors also see the overlap, but a
  // finding that starts past the cut is about dropped text and is ignored.
  const kept = scanned.slice(0, cut);
  const beforeCut = (finding: Finding) => finding.start < cut;
  if (options.allow) allowRuns(plan, kept).forEach(add);
  for (const entry of plan.deny) {
    add({
      rule: denyRuleId(entry),
      action: entry.action,
      findings: matchDenyPattern(scanned, plan.stage, entry).filter(beforeCut),
      describe: (all) => describeDeny(entry, all, entry.action),
    });
  }
  const pii = plan.pii;
  if (pii)
    add({
      rule: PII_RULE,
      action: pii.action,
      findings: detectPii(scanned, plan.stage, pii).filter(beforeCut),
      describe: (all) => describePii(all, pii.action),
    });
  const injection = plan.injection;
  if (injection) {
    add({
      rule: INJECTION_RULE,
      action: injection.action,
      findings: detectPromptInjection(scanned, plan.stage, injection).filter(beforeCut),
      describe: (all) => describeInjection(all, injection.action),
    });
  }
  // Custom rules judge the whole text, after the built-in rules have redacted and cut it:
  // a custom replacement then never undoes a built-in redaction.
  let output = redactAndCut(text, scanned, cut, runs);
  for (const ref of plan.custom) {
    const findings = runCustomRule(output, plan.stage, ref, registry);
    add({
      rule: customRuleId(ref),
      action: ref.action,
      findings,
      describe: (all) => describeCustom(ref, all, ref.action),
    });
    const replacement = findings[0]?.replacement;
    if (ref.action === 'redact' && replacement !== undefined) output = replacement;
  }
  return { runs, output };
}

function redactAndCut(text: string, scanned: string, cut: number, runs: readonly RuleRun[]): string {
  const redactions = mergeRedactions(runs.filter((run) => run.action === 'redact').flatMap((run) => run.findings));
  let end = cut;
  // A redacted value straddling the cut is kept whole as its token; nothing of it leaks.
  for (const redaction of redactions) if (redaction.start < cut && redaction.end > end) end = redaction.end;
  const body = applyRedactions(scanned.slice(0, end), redactions);
  return end < text.length ? body + truncationMarker(text.length - end) : body;
}

function toVerdict(run: RuleRun, stage: Stage): Verdict {
  return { rule: run.rule, stage, action: run.action, detail: run.describe(run.findings), count: run.findings.length };
}

function firstBlock(verdicts: readonly Verdict[]): Verdict | undefined {
  return verdicts.find((verdict) => verdict.action === 'block');
}

/**
 * Screens one text. Returns the text to use (redacted, truncated), every verdict, and the
 * first blocking verdict; a blocked text comes back untouched, since none of it is used.
 * Throws ConfigurationError when the policy names a custom rule the registry lacks.
 */
export function screen(
  text: string,
  stage: Stage,
  policy: GuardrailPolicy | undefined,
  customRules: CustomRuleRegistry = {},
): ScreenResult {
  if (!policy) return { text, verdicts: [] };
  assertCustomRulesRegistered(policy, customRules);
  const analysis = analyze(text, planFor(policy, stage), customRules, { allow: true });
  const verdicts = analysis.runs.map((run) => toVerdict(run, stage));
  const blocked = firstBlock(verdicts);
  return blocked ? { text, verdicts, blocked } : { text: analysis.output, verdicts };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Maps every string leaf, depth first, keys in insertion order; keys themselves are left alone. */
function mapStrings(value: unknown, map: (text: string) => string): unknown {
  if (typeof value === 'string') return map(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, map));
  if (isPlainObject(value))
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapStrings(item, map)]));
  return value;
}

/** Joins the runs of one rule from many texts into one, in rule order. */
function joinRuns(runs: readonly RuleRun[], order: readonly string[]): RuleRun[] {
  const byRule = new Map<string, RuleRun>();
  for (const run of runs) {
    const joined = byRule.get(run.rule);
    if (joined) joined.findings.push(...run.findings);
    else byRule.set(run.rule, { ...run, findings: [...run.findings] });
  }
  return [...byRule.values()].sort((a, b) => order.indexOf(a.rule) - order.indexOf(b.rule));
}

/**
 * Screens structured text: a tool call's arguments, a model's tool-call arguments, a tool's
 * structured result. Every string leaf is screened and the value comes back with the same
 * shape (object keys are names from a schema and are not screened). One verdict per rule
 * covers all leaves. Two rules judge the value as a whole rather than leaf by leaf:
 * - size_limits counts the characters of all string leaves together; truncate spends one
 *   budget across the leaves in order (each cut leaf ends with the marker), so the structure
 *   stays valid. For tool_input, block is usually the safer action: a truncated argument
 *   is a different call.
 * - allow_patterns match the value's JSON text, since a single leaf rarely says enough.
 * A blocked value comes back untouched.
 */
export function screenJson<T>(
  value: T,
  stage: Stage,
  policy: GuardrailPolicy | undefined,
  customRules: CustomRuleRegistry = {},
): JsonScreenResult<T> {
  if (!policy) return { value, verdicts: [] };
  assertCustomRulesRegistered(policy, customRules);
  const plan = planFor(policy, stage);
  const leaves: string[] = [];
  mapStrings(value, (text) => {
    leaves.push(text);
    return text;
  });
  const size = plan.size;
  const total = leaves.reduce((sum, leaf) => sum + leaf.length, 0);
  if (size?.action === 'block' && total > size.limit) {
    const verdict = toVerdict(
      sizeRun(plan, size, [{ rule: SIZE_RULE, kind: 'over_limit', start: size.limit, end: total }]),
      stage,
    );
    return { value, verdicts: [verdict], blocked: verdict };
  }
  const runs = allowRuns(plan, JSON.stringify(value) ?? '').filter((run) => run.findings.length > 0);
  let budget = size?.limit;
  const outputs = leaves.map((leaf) => {
    const analysis = analyze(leaf, plan, customRules, {
      allow: false,
      ...(budget !== undefined && { sizeLimit: budget }),
    });
    if (budget !== undefined) budget = Math.max(0, budget - leaf.length);
    runs.push(...analysis.runs);
    return analysis.output;
  });
  const verdicts = joinRuns(runs, ruleOrder(plan)).map((run) => toVerdict(run, stage));
  const blocked = firstBlock(verdicts);
  if (blocked) return { value, verdicts, blocked };
  let next = 0;
  return { value: mapStrings(value, () => outputs[next++]!) as T, verdicts };
}
