/**
 * Stop details and errors in the words a person would use: the state machine records error
 * names (`looprail.ExecutionABORTED: …`, `ExecutionError: …`), which the CLI and the console
 * show as what they mean.
 */

const PLAIN_ERRORS: Record<string, string> = {
  'looprail.ExecutionABORTED': 'the execution was stopped',
  'looprail.ExecutionTIMED_OUT': 'the execution ran out of time',
  'looprail.ExecutionFAILED': 'the execution failed',
  'States.Timeout': 'a step ran out of time',
  'States.Runtime': 'the state machine failed',
  'looprail.ConfigurationError': 'configuration problem',
  'looprail.ContextTooLong': 'the conversation is longer than the model accepts',
  'looprail.ToolUnavailable': 'a tool server stayed unavailable',
  'looprail.ToolTimeout': 'a tool call ran out of time',
  'looprail.ModelUnavailable': 'the model stayed unavailable',
  'looprail.SecretNotFound': 'a secret is missing',
  'looprail.NotFound': 'not found',
  'looprail.ValidationError': 'invalid',
  'looprail.ApprovalExpired': 'nobody decided in time',
  'looprail.ApprovalRejected': 'an approver rejected a call',
  'looprail.RateLimited': 'over the rate limit',
  'looprail.BudgetContended': 'the budget stayed held by other runs',
  ExecutionError: 'the execution failed',
  Error: 'error',
};

/** `looprail.ConfigurationError: MCP server …` → `configuration problem: MCP server …`. */
export function plainDetail(detail: string): string {
  const match =
    /^([A-Za-z][\w.]*(?:Error|Exception|ABORTED|TIMED_OUT|FAILED|Timeout|Runtime|Unavailable|NotFound|TooLong|Expired|Rejected|Limited|Contended)): ?/.exec(
      detail,
    );
  if (!match) return detail;
  const name = match[1]!;
  const plain = PLAIN_ERRORS[name] ?? name.replace(/^looprail\./, '');
  const rest = detail.slice(match[0].length);
  if (!rest) return plain;
  // The message often names an error again (a cause wrapped in its execution's failure): said once.
  const inner = plainDetail(rest);
  return inner.startsWith(plain) ? inner : `${plain}: ${inner}`;
}
