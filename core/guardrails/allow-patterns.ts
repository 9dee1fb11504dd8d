import type { AllowPattern } from '../definitions/guardrails.ts';
import { stricterAction } from '../definitions/guardrails.ts';
import { compileUserPattern } from './user-patterns.ts';
import { ACTION_VERB, type Finding, type GuardrailAction, type Stage } from './types.ts';

/**
 * Allow lists: where any allow pattern covers a stage, text there must match at least one
 * pattern of each group that covers the stage. A group is one rule: patterns within it are
 * alternatives, separate groups must all be satisfied.
 */

export interface AllowGroup {
  group: string;
  rule: string;
  /** The strictest action among the group's patterns for this stage. */
  action: 'block' | 'flag';
  patterns: AllowPattern[];
}

/** The groups that cover `stage`, in the order their first pattern appears. */
export function allowGroupsFor(entries: readonly AllowPattern[], stage: Stage): AllowGroup[] {
  const groups = new Map<string, AllowGroup>();
  for (const entry of entries) {
    if (!entry.stages.includes(stage)) continue;
    const group = groups.get(entry.group);
    if (group) {
      group.patterns.push(entry);
      group.action = stricterAction(group.action, entry.action);
    } else {
      groups.set(entry.group, {
        group: entry.group,
        rule: `allow_patterns.${entry.group}`,
        action: entry.action,
        patterns: [entry],
      });
    }
  }
  return [...groups.values()];
}

/** One finding covering the whole text when it matches none of the group's patterns. */
export function checkAllowPatterns(text: string, group: AllowGroup): Finding[] {
  const matched = group.patterns.some((entry) => compileUserPattern(entry.pattern, entry.ignore_case).test(text));
  return matched ? [] : [{ rule: group.rule, kind: 'no_match', start: 0, end: text.length }];
}

export function describeAllow(group: AllowGroup, stage: Stage, action: GuardrailAction, texts = 1): string {
  const names = group.patterns.map((entry) => entry.name).join(', ');
  const what = texts === 1 ? `${stage} text` : `${texts} ${stage} texts`;
  return `${ACTION_VERB[action]}: ${what} matched none of the allow patterns in group "${group.group}" (${names})`;
}
