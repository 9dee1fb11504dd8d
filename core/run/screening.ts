import type { AgentView } from '../definitions/context.ts';
import type { GuardrailStage } from '../definitions/guardrails.ts';
import { screen, screenJson } from '../guardrails/screen.ts';
import type { JsonScreenResult, ScreenResult, Verdict } from '../guardrails/types.ts';
import type { RunDeps } from './deps.ts';

/** The run's guardrails on one piece of traffic: the org's policy merged with the agent's. */
export function screenText(
  deps: Pick<RunDeps, 'guardrailRules'>,
  view: AgentView,
  text: string,
  stage: GuardrailStage,
): ScreenResult {
  return screen(text, stage, view.guardrails, deps.guardrailRules);
}

export function screenValue<T>(
  deps: Pick<RunDeps, 'guardrailRules'>,
  view: AgentView,
  value: T,
  stage: GuardrailStage,
): JsonScreenResult<T> {
  return screenJson(value, stage, view.guardrails, deps.guardrailRules);
}

/** How a block reads on the run and to the model: which rule, where, and what kind of thing (never the thing). */
export function blockedReason(verdict: Verdict): string {
  return `blocked by guardrail ${verdict.rule} at ${verdict.stage}: ${verdict.detail}`;
}

/** Only verdicts worth recording: a rule that did something. */
export function recorded(verdicts: Verdict[]): Verdict[] | undefined {
  return verdicts.length > 0 ? verdicts : undefined;
}
