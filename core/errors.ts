/**
 * Typed errors. Each `name` is what the state machine's Retry/Catch blocks match
 * (statemachines/agent-run.asl.json), so renaming one is a breaking change there too.
 */

/** A failure that may succeed if the same step is tried again (throttling, a dropped connection). */
export class TransientError extends Error {
  override name = 'looprail.TransientError';
}

/** Input that can never succeed, however often it is retried. */
export class ValidationError extends Error {
  override name = 'looprail.ValidationError';
}

/** A run, agent, model or tool that does not exist. */
export class NotFoundError extends Error {
  override name = 'looprail.NotFound';
}

/** A configuration problem discovered at run time (unknown provider, missing secret). */
export class ConfigurationError extends Error {
  override name = 'looprail.ConfigurationError';
}

/**
 * A model refused the prompt as longer than its context window. Each provider adapter
 * recognises its own wire signal and throws this; the model step compacts the run and calls
 * again. A configuration error otherwise (not retried): the same prompt cannot pass.
 */
export class ContextTooLongError extends ConfigurationError {
  override name = 'looprail.ContextTooLong';
}

/** A secret that is not in the store. The message names the secret, never a value. */
export class SecretNotFoundError extends Error {
  override name = 'looprail.SecretNotFound';
}

/** A tool server that could not be reached or answered outside the protocol. */
export class ToolUnavailableError extends TransientError {
  override name = 'looprail.ToolUnavailable';
}

/** A tool call that took longer than its declared timeout. */
export class ToolTimeoutError extends Error {
  override name = 'looprail.ToolTimeout';
}

/** A model provider that failed in a way worth retrying (429, 5xx, timeout). */
export class ModelUnavailableError extends TransientError {
  override name = 'looprail.ModelUnavailable';
}

/** An agent already has as many runs in flight as its max_concurrent_runs: the trigger is refused. */
export class ConcurrencyLimitError extends Error {
  override name = 'looprail.ConcurrencyLimit';
}

/** An agent's model requests are over its requests_per_minute: the state machine waits and retries. */
export class RateLimitedError extends Error {
  override name = 'looprail.RateLimited';
}

/**
 * A budget has room for this call once other runs' in-flight reservations settle: the
 * state machine retries the step with backoff rather than stopping the run for a hold.
 */
export class BudgetContendedError extends Error {
  override name = 'looprail.BudgetContended';
}

/** The approval wait ended without a decision (raised by the state machine on timeout). */
export const APPROVAL_EXPIRED = 'looprail.ApprovalExpired';
/** An approver rejected the call (sent by the approval handler with SendTaskFailure). */
export const APPROVAL_REJECTED = 'looprail.ApprovalRejected';
/** The state machine's own failed ending (its RunFailed state), reached only after FailRun closed the run. */
export const RUN_FAILED = 'looprail.RunFailed';

/** Errors the state machine retries with backoff; everything else goes straight to FailRun. */
export const RETRYABLE_ERROR_NAMES = [
  'looprail.TransientError',
  'looprail.ToolUnavailable',
  'looprail.ModelUnavailable',
] as const;

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * A sandbox that cannot start or cannot hold its policy (no bubblewrap, a network policy
 * the host cannot enforce): the call is refused and reported to the model, never run unsandboxed.
 */
export class SandboxUnavailableError extends Error {
  override name = 'looprail.SandboxUnavailable';
}

/**
 * A sandbox call that failed without being the command's own failure (a file that is not
 * there, an agent that answered outside its protocol): reported to the model as a failed call.
 */
export class SandboxCallError extends Error {
  override name = 'looprail.SandboxCall';
}
