import type { SecretStore } from '../ports/secrets.ts';
import type { TaskTokenSender } from '../ports/executions.ts';

/** How approvals are mailed, signed and answered; the composition root supplies it. */
export interface ApprovalDeps {
  /** The secret (by name) holding the HMAC key that signs approval links. */
  signingSecret: string;
  /** The store that key is read from (the approval handler's own). */
  secrets: SecretStore;
  /** Where the HTTP app serves `/approvals/<id>` and `/v1/runs/<id>/trace` (read when a mail is built). */
  baseUrl: () => string;
  /** Org-wide approvers, used when no rule for the tool names any. */
  fallbackApprovers: string[];
  /** Sends a decision back to the waiting execution: only the approval handler has it. */
  tasks?: TaskTokenSender;
}

/** The secret that holds the link-signing key, unless the deployment names another. */
export const DEFAULT_SIGNING_SECRET = 'looprail/approval-signing-key';
