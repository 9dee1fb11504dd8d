import { PiiRule } from '../../../core/definitions/guardrails.ts';
import { detectPii } from '../../../core/guardrails/pii.ts';
import { applyRedactions, mergeRedactions } from '../../../core/guardrails/screen.ts';

/**
 * What the console shows of recorded text: messages, tool arguments and results were
 * screened by the run's guardrails when they were recorded (known secret values always,
 * PII as the policy says). A run without a policy may still have recorded something
 * key-shaped, so credentials (AWS key ids, private keys, API keys) are masked again on
 * the way to a screen, whatever the policy was.
 */
const CREDENTIALS = PiiRule.parse({ detect: ['aws_access_key', 'private_key', 'api_key'] });

export function redactForDisplay(text: string): string {
  const findings = detectPii(text, 'tool_output', CREDENTIALS);
  return findings.length === 0 ? text : applyRedactions(text, mergeRedactions(findings));
}
