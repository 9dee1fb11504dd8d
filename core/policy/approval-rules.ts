import type { ApprovalRule, ToolSpec } from '../definitions/context.ts';
import { matchesToolPattern } from './tool-patterns.ts';

export interface ApprovalRequirement {
  /** Why a human must decide: org flags first, then the agent's own rules. */
  reasons: string[];
  approvers: string[];
  timeoutSeconds: number;
  onReject: 'continue' | 'stop';
  /** 2 when a matching rule asks for two distinct approvers (absent: one is enough). */
  requiredApprovals?: number;
  /** The longest reminder lead of the matching rules (the earliest reminder). */
  remindBeforeSeconds?: number;
  /** The shortest escalation delay of the matching rules, and all their escalation addresses. */
  escalateAfterSeconds?: number;
  escalateTo?: string[];
}

/**
 * Org-wide flags win: a tool declared destructive or requires_approval pauses in every
 * agent, whatever the agent says. An agent's rules can add pauses, never remove them.
 */
export function approvalFor(
  spec: ToolSpec,
  rules: ApprovalRule[],
  defaultTimeoutSeconds: number,
  context: { untrustedWrite?: boolean } = {},
): ApprovalRequirement | null {
  const reasons: string[] = [];
  if (spec.destructive) reasons.push(`${spec.server}.${spec.tool} is flagged destructive in its server declaration`);
  if (spec.requiresApproval) reasons.push(`${spec.server}.${spec.tool} requires approval in its server declaration`);
  // Once untrusted text (a tool result, a webhook body) is in the context, it may be steering
  // the model: an agent can ask for every write after that point to be approved.
  if (context.untrustedWrite && !spec.readOnly)
    reasons.push(`the run has read untrusted content, and the agent approves every write after that`);
  const matching = rules.filter((rule) => matchesToolPattern(rule.pattern, spec.server, spec.tool));
  for (const rule of matching) reasons.push(`the agent's approval rule "${rule.pattern}"`);
  if (reasons.length === 0) return null;
  return {
    reasons,
    approvers: [...new Set(matching.flatMap((rule) => rule.approvers))],
    timeoutSeconds:
      matching.length > 0 ? Math.min(...matching.map((rule) => rule.timeoutSeconds)) : defaultTimeoutSeconds,
    onReject: matching.some((rule) => rule.onReject === 'stop') ? 'stop' : 'continue',
    ...(matching.some((rule) => rule.twoPerson) ? { requiredApprovals: 2 } : {}),
    ...reminderAndEscalation(matching),
  };
}

function reminderAndEscalation(
  matching: ApprovalRule[],
): Pick<ApprovalRequirement, 'remindBeforeSeconds' | 'escalateAfterSeconds' | 'escalateTo'> {
  const reminding = matching.filter((rule) => rule.remindBeforeSeconds !== undefined);
  const escalating = matching.filter(
    (rule) => rule.escalateAfterSeconds !== undefined && (rule.escalateTo?.length ?? 0) > 0,
  );
  return {
    ...(reminding.length > 0
      ? { remindBeforeSeconds: Math.max(...reminding.map((rule) => rule.remindBeforeSeconds!)) }
      : {}),
    ...(escalating.length > 0
      ? {
          escalateAfterSeconds: Math.min(...escalating.map((rule) => rule.escalateAfterSeconds!)),
          escalateTo: [...new Set(escalating.flatMap((rule) => rule.escalateTo!))],
        }
      : {}),
  };
}
