import type { CustomRuleRef, GuardrailPolicy } from '../definitions/guardrails.ts';
import { ConfigurationError, errorMessage } from '../errors.ts';
import {
  ACTION_VERB,
  type CustomRule,
  type CustomRuleRegistry,
  type Finding,
  type GuardrailAction,
  type Stage,
} from './types.ts';

/**
 * A team's own rules: functions registered by name and referenced from the policy by that
 * name. A custom rule judges the whole text, so a finding covers all of it.
 */

export function customRuleId(ref: CustomRuleRef): string {
  return `custom.${ref.rule}`;
}

/** Names the policy references that the registry does not have: for validation and start-up checks. */
export function missingCustomRules(policy: GuardrailPolicy | undefined, registry: CustomRuleRegistry): string[] {
  return (policy?.custom ?? []).map((ref) => ref.rule).filter((name) => !Object.hasOwn(registry, name));
}

function registeredNames(registry: CustomRuleRegistry): string {
  const known = Object.keys(registry).sort();
  return known.length > 0 ? `registered rules: ${known.join(', ')}` : 'no custom rules are registered';
}

/** Fails fast, before any text is screened, when the policy names a rule nobody registered. */
export function assertCustomRulesRegistered(policy: GuardrailPolicy | undefined, registry: CustomRuleRegistry): void {
  const missing = missingCustomRules(policy, registry);
  if (missing.length === 0) return;
  const names = missing.map((name) => `"${name}"`).join(', ');
  throw new ConfigurationError(
    `guardrail custom rule${missing.length === 1 ? '' : 's'} ${names} ${missing.length === 1 ? 'is' : 'are'} not registered; ${registeredNames(registry)}`,
  );
}

export function lookupCustomRule(registry: CustomRuleRegistry, name: string): CustomRule {
  if (Object.hasOwn(registry, name)) return registry[name]!;
  throw new ConfigurationError(`guardrail custom rule "${name}" is not registered; ${registeredNames(registry)}`);
}

/** A rule's detail goes on the trace: one line, bounded. */
function shortDetail(detail: string | undefined): string | undefined {
  if (detail === undefined) return undefined;
  const line = detail.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

export function runCustomRule(text: string, stage: Stage, ref: CustomRuleRef, registry: CustomRuleRegistry): Finding[] {
  const rule = lookupCustomRule(registry, ref.rule);
  let result;
  try {
    result = rule(text, stage);
  } catch (error) {
    // Fail closed: the step fails (and the run with it) rather than letting unchecked text through.
    throw new Error(`guardrail custom rule "${ref.rule}" failed: ${errorMessage(error)}`, { cause: error });
  }
  if (!result.matched) return [];
  const detail = shortDetail(result.detail);
  return [
    {
      rule: customRuleId(ref),
      kind: 'match',
      start: 0,
      end: text.length,
      replacement: result.replacement ?? `[redacted:custom:${ref.rule}]`,
      ...(detail ? { detail } : {}),
    },
  ];
}

export function describeCustom(ref: CustomRuleRef, findings: readonly Finding[], action: GuardrailAction): string {
  const detail = findings.find((finding) => finding.detail)?.detail;
  const times = findings.length === 1 ? '' : ` in ${findings.length} texts`;
  return `${ACTION_VERB[action]}: custom rule "${ref.rule}" matched${times}${detail ? `: ${detail}` : ''}`;
}
