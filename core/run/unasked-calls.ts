import type { RunContext } from '../definitions/context.ts';
import type { ToolCallBlock } from '../definitions/messages.ts';
import type { RunMeta } from '../definitions/run.ts';
import { heldCall } from '../policy/verify-release.ts';
import { notLoadedRefusal } from './deferred-tools.ts';

/**
 * A call of the turn that the ToolStep answers without running it: a tool not loaded yet, or
 * one verify.release holds back (or no longer allows). Nobody is asked to approve such a call,
 * so the model step and RequestApproval both leave it out when they work out the approvals.
 */
export function answeredWithoutRunning(
  context: RunContext,
  meta: Pick<RunMeta, 'loadedTools' | 'verified'>,
  call: ToolCallBlock,
): boolean {
  return notLoadedRefusal(context, meta, call) !== undefined || heldCall(context, meta, call) !== undefined;
}
