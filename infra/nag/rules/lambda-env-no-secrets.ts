import { Stack, type CfnResource } from 'aws-cdk-lib';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { NagRuleCompliance, type NagRuleResult } from 'cdk-nag';

/**
 * Values that are secrets whatever the variable is called: CloudFormation dynamic
 * references that resolve a secret into plaintext, and well-known key formats.
 */
const SECRET_VALUE_PATTERNS: ReadonlyArray<readonly [string, RegExp]> = [
  ['secretsmanager-reference', /\{\{resolve:secretsmanager:/],
  ['ssm-secure-reference', /\{\{resolve:ssm-secure:/],
  ['anthropic-key', /\bsk-ant-[A-Za-z0-9_-]{16,}/],
  ['openai-key', /\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}/],
  ['aws-access-key-id', /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/],
  ['github-token', /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})/],
  ['slack-token', /\bxox[abprs]-[A-Za-z0-9-]{10,}/],
  ['stripe-key', /\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}/],
  ['private-key', /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/],
  ['jwt', /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
];

/** Variable names that announce a secret value (`API_KEY`, `DB_PASSWORD`), not a reference to one (`API_KEY_SECRET_NAME`). */
const SECRET_NAME = /(?:^|_)(?:SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CLIENT_SECRET|CREDENTIALS?)$/i;
/** A literal that could be a key: one word of 12 or more characters… */
const KEY_LIKE_LITERAL = /^\S{12,}$/;
/** …unless it reads like a secret's name: short words joined by `-`, `_`, `/` or `.` (`prod/anthropic-api-key`). */
const NAME_LIKE_LITERAL = /^[A-Za-z][A-Za-z0-9]{0,23}(?:[-_/.][A-Za-z0-9]{1,24})+$/;

/**
 * Looprail-LambdaEnvNoSecrets: no Lambda environment variable holds a secret value.
 * Environment variables show in the console, in GetFunctionConfiguration and in the
 * template; looprail reads secrets by name from Secrets Manager at the edge that needs
 * them. Findings name the variable, never its value.
 */
export function lambdaEnvNoSecrets(node: CfnResource): NagRuleResult {
  if (!(node instanceof CfnFunction)) return NagRuleCompliance.NOT_APPLICABLE;
  const environment = Stack.of(node).resolve(node.environment) as
    | { variables?: Record<string, unknown>; Variables?: Record<string, unknown> }
    | undefined;
  const variables = environment?.variables ?? environment?.Variables ?? {};
  const findings: string[] = [];
  for (const [name, value] of Object.entries(variables)) {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    const kind = SECRET_VALUE_PATTERNS.find(([, pattern]) => pattern.test(text))?.[0];
    if (kind) findings.push(`${name}:${kind}`);
    else if (
      typeof value === 'string' &&
      SECRET_NAME.test(name) &&
      KEY_LIKE_LITERAL.test(value) &&
      !NAME_LIKE_LITERAL.test(value)
    ) {
      findings.push(`${name}:literal`);
    }
  }
  return findings.length > 0 ? findings : NagRuleCompliance.COMPLIANT;
}
