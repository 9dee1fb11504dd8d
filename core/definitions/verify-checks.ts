import { Count, Duration, Name } from './primitives.ts';
import { WorkspacePath } from './sandbox.ts';
import * as z from './zod.ts';

/**
 * `agent.verify.checks`: deterministic checks run when the maker says it is done, before
 * the checker. A command runs in the run's sandbox (`npm test`) and must exit as expected;
 * a tool call (read-only, granted to the agent) must return a result that matches. The
 * first check that fails goes back to the maker with its output's tail, and the checker
 * (its model, its tokens) runs only once every check passes. See docs/verify-checks.md.
 */

/** Output kept of a check by default: the tail, where test runners print their summary. */
export const DEFAULT_CHECK_OUTPUT_BYTES = 4096;
export const MAX_CHECK_OUTPUT_BYTES = 65_536;

/** A dotted path into a JSON result: `$.status`, `jobs[0].conclusion`, `data.items.length`. */
export const JSON_PATH_PATTERN = /^(\$)?(\.?[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])*$/;

/** The name the trace, the maker's feedback and verification_failed use. */
const CheckName = Name;

/** Which part of a result must match, and how. */
export const ResultExpectation = z
  .strictObject({
    /** Into the result parsed as JSON (`$.status`, `jobs[0].conclusion`); absent: the whole text. */
    path: z
      .optional(
        z
          .string()
          .check(
            z.minLength(1),
            z.regex(JSON_PATH_PATTERN, 'expected a JSON path such as $.status or jobs[0].conclusion'),
          ),
      )
      .check(z.describe('Into the result parsed as JSON ($.status, jobs[0].conclusion); absent: the whole text.')),
    /** The value there must equal this (compared as JSON). */
    equals: z.optional(z.unknown()).check(z.describe('The value there must equal this (compared as JSON).')),
    /** The value there (as text; JSON for anything but a string) must match this regular expression. */
    matches: z
      .optional(
        z.string().check(
          z.minLength(1),
          z.refine(
            (source) => {
              try {
                new RegExp(source);
                return true;
              } catch {
                return false;
              }
            },
            { error: 'expected a valid regular expression' },
          ),
        ),
      )
      .check(
        z.describe('The value there (as text; JSON for anything but a string) must match this regular expression.'),
      ),
  })
  .check(
    z.refine((expect) => expect.equals !== undefined || expect.matches !== undefined, {
      error: 'expected equals or matches (or both)',
    }),
    z.describe('Which part of the result must match, and how.'),
  );
export type ResultExpectation = z.infer<typeof ResultExpectation>;

/** How much of a check's output (a command's, a tool result's) is kept, tail first. */
function keptBytes(description: string) {
  return z
    ._default(
      Count.check(z.refine((n) => n <= MAX_CHECK_OUTPUT_BYTES, `expected at most ${MAX_CHECK_OUTPUT_BYTES} bytes`)),
      DEFAULT_CHECK_OUTPUT_BYTES,
    )
    .check(z.describe(description));
}

/** A command run in the run's sandbox, with `sh -c`. */
export const CommandCheck = z.strictObject({
  name: CheckName.check(
    z.describe("The check's name, used by the trace, the maker's feedback and verification_failed."),
  ),
  command: z
    .string()
    .check(
      z.minLength(1, 'expected a shell command such as npm test'),
      z.maxLength(16_384),
      z.describe("A shell command run with `sh -c` in the run's sandbox, such as npm test."),
    ),
  /** Where it runs, relative to the workspace. */
  cwd: z._default(WorkspacePath, '.').check(z.describe('Where it runs, relative to the workspace.')),
  /** The exit code that passes. */
  expect_exit_code: z
    ._default(z.number().check(z.int(), z.minimum(0), z.maximum(255)), 0)
    .check(z.describe('The exit code that passes.')),
  /** Killed (with everything it started) after this; at most the sandbox's command_timeout_seconds, its default. */
  timeout: z
    .optional(Duration)
    .check(
      z.describe(
        "Killed (with everything it started) after this; at most the sandbox's command_timeout_seconds, its default.",
      ),
    ),
  /** Bytes of the output's tail kept for the maker's feedback and the trace. */
  keep_output_bytes: keptBytes("Bytes of the output's tail kept for the maker's feedback and the trace."),
});
export type CommandCheck = z.infer<typeof CommandCheck>;

/** A tool as traces, approval rules and the inventory name it: `server.tool`. */
export const ServerTool = z.string().check(
  z.regex(/^[a-z][a-z0-9-]{0,62}\.[A-Za-z0-9_./-]+$/, {
    error: (issue) =>
      typeof issue.input === 'string' && /^[a-z][a-z0-9-]{0,62}__./.test(issue.input)
        ? `expected server.tool: "${issue.input}" is how models call the tool; write "${issue.input.replace('__', '.')}"`
        : 'expected server.tool, such as ci.get_status',
  }),
);

/** A call to a read-only tool the agent is granted, whose result must match. */
export const ToolCheck = z.strictObject({
  name: CheckName.check(
    z.describe("The check's name, used by the trace, the maker's feedback and verification_failed."),
  ),
  tool: ServerTool.check(z.describe('The read-only tool to call, as server.tool (a tool the agent is granted).')),
  arguments: z._default(z.record(z.string(), z.unknown()), {}).check(z.describe("The call's arguments.")),
  expect: ResultExpectation,
  timeout: z.optional(Duration).check(z.describe('How long the call may take.')),
  keep_output_bytes: keptBytes("Bytes of the result's tail kept for the maker's feedback and the trace."),
});
export type ToolCheck = z.infer<typeof ToolCheck>;

export const VerifyCheck = z.union([CommandCheck, ToolCheck], {
  error: 'expected { name, command, … } (a command in the sandbox) or { name, tool, expect, … } (a tool call)',
});
export type VerifyCheck = z.infer<typeof VerifyCheck>;

export const VerifyChecks = z.array(VerifyCheck).check(
  z.minLength(1, 'expected at least one check (or leave checks out)'),
  z.refine((checks) => new Set(checks.map((check) => check.name)).size === checks.length, {
    error: 'expected each check to have its own name',
  }),
);

export function isCommandCheck(check: VerifyCheck): check is CommandCheck {
  return 'command' in check;
}
