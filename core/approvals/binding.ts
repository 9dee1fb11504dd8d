import { canonicalJson, sha256 } from '../definitions/hash.ts';

/**
 * What an approver approved, as one hash: the tool, its exact arguments and the policy
 * version (the run's definition hash). Stored with the approval and checked again when
 * the tool runs, so the call that executes is the call that was shown, or it is refused.
 */
export function callBinding(tool: string, args: unknown, policyVersion: string): string {
  return sha256(canonicalJson({ tool, arguments: args ?? null, policy: policyVersion }));
}
