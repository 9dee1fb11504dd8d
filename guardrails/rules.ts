import type { CustomRuleRegistry } from '../core/guardrails/types.ts';

/**
 * The team's own guardrail rules. A policy names one (`custom: [{ rule: no-ticket-ids }]`)
 * and every step that screens model or tool traffic runs it: locally, and in the Lambdas,
 * which bundle this module. Each rule is a pure function of the text: say what was found,
 * never quote it.
 */
export const guardrailRules: CustomRuleRegistry = {
  /** Internal hostnames must not leave the network in model output or tool arguments. */
  'no-internal-hostnames': (text) => {
    const matches = text.match(/\b[a-z0-9-]+\.(?:corp|internal)\.example\.com\b/gi);
    return matches
      ? {
          matched: true,
          detail: `${matches.length} internal hostname(s)`,
          replacement: text.replace(/\b[a-z0-9-]+\.(?:corp|internal)\.example\.com\b/gi, '[internal-host]'),
        }
      : { matched: false };
  },
};
