import type { Message } from '../definitions/messages.ts';
import type { CommandCheck, ResultExpectation, ToolCheck } from '../definitions/verify-checks.ts';

/**
 * The pure parts of `verify.checks` (core/definitions/verify-checks.ts): the shell around a
 * command check that keeps its output's tail, reading that back, matching a tool's result,
 * and what the maker reads when a check fails. Running them is core/run/verify-checks.ts.
 */

/** The first line the wrapper prints: how much the command printed in all. */
const HEADER = /^looprail-check: *(\d+) bytes\n/;

/** Room left for that header in the sandbox's own output limit. */
const HEADER_ROOM = 64;

/** `'…'` for sh: nothing inside is expanded. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * Where the command's output goes while it runs: inside the workspace's `.git` (left out of
 * the diff and of list_files, and still there after a timeout kills the command), else TMPDIR.
 */
const LOG_PATH =
  'lr_log="${TMPDIR:-/tmp}/looprail-check.log"; if [ -d .git ]; then lr_log="$PWD/.git/looprail-check.log"; fi';

/** Bytes of tail asked of the sandbox: what the check keeps, within the sandbox's own output limit. */
export function keptBytes(check: Pick<CommandCheck, 'keep_output_bytes'>, maxOutputBytes: number): number {
  return Math.max(1, Math.min(check.keep_output_bytes, maxOutputBytes - HEADER_ROOM));
}

/**
 * The script the sandbox runs (from the workspace root) for a command check: the command's
 * output goes to a log, and only its size and its last `keep` bytes are printed, so a
 * test runner's summary survives however much it printed. The command's exit code is the
 * script's.
 */
export function checkScript(check: Pick<CommandCheck, 'command' | 'cwd'>, keep: number): string {
  return [
    LOG_PATH,
    `cd ${shellQuote(check.cwd)} || exit 126`,
    `sh -c ${shellQuote(check.command)} >"$lr_log" 2>&1 </dev/null`,
    'lr_status=$?',
    `printf 'looprail-check: %s bytes\\n' "$(wc -c <"$lr_log" | tr -d ' ')"`,
    `tail -c ${keep} "$lr_log"`,
    'rm -f "$lr_log"',
    'exit "$lr_status"',
  ].join('\n');
}

/** After a timeout killed the check: what its log holds (the sandbox keeps the workspace's .git between commands). */
export function leftoverScript(keep: number): string {
  return [
    LOG_PATH,
    '[ -f "$lr_log" ] || exit 0',
    `printf 'looprail-check: %s bytes\\n' "$(wc -c <"$lr_log" | tr -d ' ')"`,
    `tail -c ${keep} "$lr_log"`,
    'rm -f "$lr_log"',
  ].join('\n');
}

export interface CheckOutput {
  /** The tail that was kept. */
  tail: string;
  /** What the command printed in all (absent when the wrapper could not say: it was killed first). */
  totalBytes?: number;
}

/** Reads the wrapper's output back: its header, then the tail (a character cut in half at its start is dropped). */
export function readCheckOutput(output: string): CheckOutput {
  const header = HEADER.exec(output);
  if (!header) return { tail: output };
  return { tail: output.slice(header[0].length).replace(/^\uFFFD+/, ''), totalBytes: Number(header[1]) };
}

/** The last `maxChars` characters of a text, marked as cut when they are not all of it. */
export function cutTail(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  return `[… ${text.length - maxChars} characters cut]\n${text.slice(text.length - maxChars)}`;
}

/** The value at a JSON path (`$.jobs[0].conclusion`, `status`, `items.length`), or nothing there. */
export function valueAt(value: unknown, path: string): { found: true; value: unknown } | { found: false } {
  let current = value;
  for (const match of path.replace(/^\$/, '').matchAll(/\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]/g)) {
    const [, key, index] = match;
    if (index !== undefined) {
      if (!Array.isArray(current) || Number(index) >= current.length) return { found: false };
      current = current[Number(index)];
    } else if (Array.isArray(current) && key === 'length') current = current.length;
    else if (current !== null && typeof current === 'object' && Object.hasOwn(current, key!))
      current = (current as Record<string, unknown>)[key!];
    else return { found: false };
  }
  return { found: true, value: current };
}

/** JSON with its keys in order, so two equal values read the same. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

export type MatchOutcome = { pass: true; detail: string } | { pass: false; detail: string };

/** Whether a tool's result text meets the check's expectation, and why not in plain words. */
export function matchResult(content: string, expect: ResultExpectation): MatchOutcome {
  let subject: unknown = content;
  let where = 'the result';
  if (expect.path !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(content);
    } catch {
      return { pass: false, detail: `the result is not JSON, so ${expect.path} cannot be read from it` };
    }
    const at = valueAt(parsed, expect.path);
    if (!at.found) return { pass: false, detail: `the result has nothing at ${expect.path}` };
    subject = at.value;
    where = expect.path;
  }
  const shown = typeof subject === 'string' ? JSON.stringify(subject) : canonical(subject);
  if (expect.equals !== undefined && canonical(subject) !== canonical(expect.equals))
    return { pass: false, detail: `${where} is ${cutTail(shown, 200)}, expected ${canonical(expect.equals)}` };
  if (expect.matches !== undefined) {
    const text = typeof subject === 'string' ? subject : canonical(subject);
    if (!new RegExp(expect.matches).test(text))
      return { pass: false, detail: `${where} is ${cutTail(shown, 200)}, which does not match /${expect.matches}/` };
  }
  return { pass: true, detail: `${where} is ${cutTail(shown, 200)}, as expected` };
}

/** How a command check ended, in one line (the trace's detail starts with it, so does the maker's feedback). */
export function describeCommandOutcome(
  check: Pick<CommandCheck, 'command' | 'expect_exit_code'>,
  result: { exitCode?: number; timedOut: boolean; durationMs: number },
  timeoutSeconds: number,
): string {
  const took = `after ${(result.durationMs / 1000).toFixed(2)} s`;
  if (result.timedOut)
    return `\`${check.command}\` ran longer than its ${timeoutSeconds} s timeout and was killed, with everything it started`;
  if (result.exitCode === undefined) return `\`${check.command}\` was killed ${took}`;
  if (result.exitCode === check.expect_exit_code) return `\`${check.command}\` exited ${result.exitCode} ${took}`;
  return `\`${check.command}\` exited ${result.exitCode} (expected ${check.expect_exit_code}) ${took}`;
}

/** The kept output, as the maker and the trace read it: how much of how much, then the tail. */
export function outputSection(output: CheckOutput, keep: number): string {
  if (output.tail === '') return '(no output)';
  const kept = Buffer.byteLength(output.tail);
  const of =
    output.totalBytes !== undefined && output.totalBytes > kept
      ? `the last ${kept} bytes of ${output.totalBytes} (keep_output_bytes: ${keep})`
      : 'all of it';
  return `Its output, ${of}:\n${output.tail}`;
}

/** What the maker reads when a check fails: which check, how it failed, the output's tail. */
export function checkFeedback(
  check: Pick<CommandCheck | ToolCheck, 'name'>,
  attempt: number,
  maxAttempts: number,
  outcome: string,
  output: string,
): Message {
  const text = [
    `The check "${check.name}" did not pass (attempt ${attempt} of ${maxAttempts}): ${outcome}.`,
    output,
    'Fix this, then finish again with an updated summary. The checks run again, in order, before the reviewer sees your work.',
  ].join('\n\n');
  return { role: 'user', content: [{ type: 'text', text }] };
}
