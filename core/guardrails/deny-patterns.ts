import type { DenyPattern } from '../definitions/guardrails.ts';
import { compileUserPattern } from './user-patterns.ts';
import { ACTION_VERB, plural, type Finding, type GuardrailAction, type Stage } from './types.ts';

/** Text that must never pass: each match of one named deny pattern is a finding. */

export function denyRuleId(entry: DenyPattern): string {
  return `deny_patterns.${entry.name}`;
}

export function matchDenyPattern(text: string, _stage: Stage, entry: DenyPattern): Finding[] {
  const rule = denyRuleId(entry);
  const findings: Finding[] = [];
  for (const match of text.matchAll(compileUserPattern(entry.pattern, entry.ignore_case))) {
    // The schema rejects patterns that match empty text; a pattern may still match empty
    // at some positions (`a*`), and an empty match has nothing to deny or redact.
    if (match[0].length === 0) continue;
    findings.push({
      rule,
      kind: 'match',
      start: match.index,
      end: match.index + match[0].length,
      replacement: `[redacted:deny:${entry.name}]`,
    });
  }
  return findings;
}

/** Names the pattern, never the matched text. */
export function describeDeny(entry: DenyPattern, findings: readonly Finding[], action: GuardrailAction): string {
  return `${ACTION_VERB[action]}: matched deny pattern "${entry.name}" ${plural(findings.length, 'time')}`;
}
