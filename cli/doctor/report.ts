/**
 * What `looprail doctor` finds, one line per check: ✓ passed, ! a warning (the stack works,
 * with a limit a person should know), ✗ failed with what to do about it. Pure: the checks
 * (cli/doctor/checks.ts) gather the facts, this decides how they read and the exit status.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  status: CheckStatus;
  /** What was checked and what was found, e.g. `secret "github-token" exists`. */
  message: string;
  /** What to do, for a warning or a failure. */
  fix?: string;
}

const MARKS: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗' };

export const ok = (message: string): CheckResult => ({ status: 'ok', message });
export const warn = (message: string, fix: string): CheckResult => ({ status: 'warn', message, fix });
export const fail = (message: string, fix: string): CheckResult => ({ status: 'fail', message, fix });

/** One line per check; the fix on the line after, indented. */
export function reportLines(results: CheckResult[]): string[] {
  const lines: string[] = [];
  for (const result of results) {
    lines.push(`${MARKS[result.status]} ${result.message}`);
    if (result.fix && result.status !== 'ok') lines.push(`    → ${result.fix}`);
  }
  const failed = results.filter((result) => result.status === 'fail').length;
  const warned = results.filter((result) => result.status === 'warn').length;
  lines.push(
    failed === 0
      ? `${results.length} checks passed${warned > 0 ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}`
      : `${failed} of ${results.length} checks failed`,
  );
  return lines;
}

export function hasFailures(results: CheckResult[]): boolean {
  return results.some((result) => result.status === 'fail');
}

/** The name AWS gave an SDK error (`ResourceNotFoundException`, `AccessDeniedException`…). */
export function errorName(error: unknown): string {
  return (error as { name?: string } | undefined)?.name ?? 'Error';
}

/** A refusal of the caller's own call: the fix is the doctor's policy, not the stack. */
export function isAccessDenied(error: unknown): boolean {
  return /^AccessDenied/.test(errorName(error));
}

export const POLICY_FIX =
  'your credentials may not make this call: attach the read-only policy `looprail doctor --print-policy` prints (README, Deploying)';

/** A check that could not be made: the caller's permissions, or AWS's own error. */
export function failedCall(what: string, error: unknown): CheckResult {
  const detail = `${errorName(error)}: ${(error as Error)?.message ?? String(error)}`;
  return isAccessDenied(error)
    ? fail(`${what}: refused (${detail})`, POLICY_FIX)
    : fail(
        `${what}: ${detail}`,
        'check the Region (--region) and that the stack finished deploying, then run doctor again',
      );
}
