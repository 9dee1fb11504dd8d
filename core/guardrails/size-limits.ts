import type { SizeLimits } from '../definitions/guardrails.ts';
import { ACTION_VERB, type Finding, type GuardrailAction, type Stage } from './types.ts';

/** Bounds the characters that cross a stage: the rest is dropped (truncate) or the text refused (block). */

export const SIZE_RULE = 'size_limits';

export interface StageLimit {
  limit: number;
  action: SizeLimits['action'];
}

export function sizeLimitFor(config: SizeLimits | undefined, stage: Stage): StageLimit | undefined {
  const limit = config?.[`${stage}_chars`];
  return config && limit !== undefined ? { limit, action: config.action } : undefined;
}

/** Appended after the kept start of a truncated text, so a reader (or model) knows it is partial. */
export function truncationMarker(dropped: number): string {
  return `\n[… truncated by guardrail size_limits: ${dropped} more characters]`;
}

/**
 * One finding for the part beyond the limit. Its replacement is the marker, so applying it
 * like a redaction truncates the text. `limit` may be below the configured one when several
 * texts share a budget (the string leaves of one tool call's arguments).
 */
export function checkSizeLimit(text: string, _stage: Stage, limit: number): Finding[] {
  if (text.length <= limit) return [];
  return [
    {
      rule: SIZE_RULE,
      kind: 'over_limit',
      start: limit,
      end: text.length,
      replacement: truncationMarker(text.length - limit),
    },
  ];
}

export function describeSize(
  findings: readonly Finding[],
  stage: Stage,
  limit: number,
  action: GuardrailAction,
): string {
  const over = findings.reduce((sum, finding) => sum + (finding.end - finding.start), 0);
  return `${ACTION_VERB[action]}: ${stage} text is ${over} characters over the ${limit}-character limit`;
}
