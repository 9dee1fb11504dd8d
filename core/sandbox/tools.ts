import type { McpServerDeclaration } from '../definitions/org.ts';
import { SANDBOX_SERVER, WorkspacePath, type SandboxSpec } from '../definitions/sandbox.ts';
import * as z from '../definitions/zod.ts';
import { errorMessage } from '../errors.ts';
import type { ExecResult, Sandbox, ToolBridge } from '../ports/sandbox.ts';
import type { SandboxCallRecord, ToolCallResult, ToolDescriptor } from '../ports/tools.ts';

/**
 * looprail's built-in sandbox server: the tools a run uses in its own workspace. It is
 * declared like any org server (so grants, checker rules, approvals, guardrails and the
 * trace apply unchanged) and served in-process over the Sandbox port.
 *
 * exec, write_file and run_code change the workspace (not read-only: a checker cannot be
 * granted them; not destructive: the workspace is the run's own and is thrown away after
 * it). read_file, list_files and diff are read-only.
 *
 * run_code is code mode: one program that calls several of the run's tools, each call
 * bridged back through the gateway (core/run/code-mode.ts), only its printed output
 * returned to the model.
 */

const READ_LIMIT_BYTES = 256 * 1024;
const DIFF_LIMIT_BYTES = 256 * 1024;
const MAX_LIST_ENTRIES = 2000;

export const SANDBOX_DECLARATION: McpServerDeclaration = {
  name: SANDBOX_SERVER,
  description: "looprail's built-in sandbox: the run's own isolated workspace",
  transport: { type: 'builtin' },
  timeouts: {},
  // Five small tools a coding loop needs from its first turn: loading them on demand would cost a turn for nothing.
  defer_loading: false,
  tools: {
    exec: {},
    write_file: {},
    run_code: {},
    read_file: { read_only: true },
    list_files: { read_only: true },
    diff: { read_only: true },
  },
};

/** Where and how long a command or program runs: exec and run_code alike. */
const RunOptions = {
  cwd: z._default(WorkspacePath, '.'),
  timeout_seconds: z.optional(z.number().check(z.int(), z.positive())),
};
const RUN_OPTION_SCHEMAS = {
  cwd: { type: 'string', description: 'folder relative to the workspace root (default: the root)' },
  timeout_seconds: { type: 'integer', minimum: 1, description: "at most the sandbox's command_timeout_seconds" },
};

const ExecArgs = z.strictObject({
  command: z.string().check(z.minLength(1, 'expected a shell command'), z.maxLength(16_384)),
  ...RunOptions,
});
const ReadArgs = z.strictObject({
  path: WorkspacePath,
  max_bytes: z.optional(z.number().check(z.int(), z.positive(), z.maximum(READ_LIMIT_BYTES))),
});
const WriteArgs = z.strictObject({
  path: WorkspacePath,
  content: z.string().check(z.maxLength(1024 * 1024, 'expected at most 1 MB of content')),
});
const ListArgs = z.strictObject({
  path: z._default(WorkspacePath, '.'),
  max_depth: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(20)), 3),
});
const DiffArgs = z.strictObject({});
const RunCodeArgs = z.strictObject({
  code: z
    .string()
    .check(z.minLength(1, 'expected a JavaScript program'), z.maxLength(256 * 1024, 'expected at most 256 KB of code')),
  ...RunOptions,
});
/** Each tool's arguments, tagged with the tool's name for the dispatch. */
const ARGUMENTS = {
  exec: z.pipe(
    ExecArgs,
    z.transform((args) => ({ tool: 'exec' as const, ...args })),
  ),
  read_file: z.pipe(
    ReadArgs,
    z.transform((args) => ({ tool: 'read_file' as const, ...args })),
  ),
  write_file: z.pipe(
    WriteArgs,
    z.transform((args) => ({ tool: 'write_file' as const, ...args })),
  ),
  list_files: z.pipe(
    ListArgs,
    z.transform((args) => ({ tool: 'list_files' as const, ...args })),
  ),
  diff: z.pipe(
    DiffArgs,
    z.transform((args) => ({ tool: 'diff' as const, ...args })),
  ),
  run_code: z.pipe(
    RunCodeArgs,
    z.transform((args) => ({ tool: 'run_code' as const, ...args })),
  ),
};

export const RUN_CODE_TOOL = 'run_code';

/** What run_code's description says before StartRun appends the tools this run's scripts may call. */
export const RUN_CODE_DESCRIPTION =
  'Run a JavaScript program (an ES module, on Node, top-level await allowed) in the workspace, without network access. ' +
  "It can call this run's other tools: `const text = await tools.call('server.tool', { ...arguments })` returns the tool's text result " +
  '(`await tools.json(name, args)` parses it as JSON) and throws a ToolError (its `.content` says why) when the call fails or is refused. ' +
  'Calls run under the same grants, guardrails and limits as yours; one that needs a human approval is refused (make it directly). ' +
  'Only what the program prints (console.log, stdout and stderr) comes back to you, cut when long: filter, join and summarise results in the program ' +
  'instead of reading them whole.';

export const SANDBOX_TOOLS: ToolDescriptor[] = [
  {
    name: 'exec',
    description:
      'Run a shell command (sh -c) in the workspace, without network access. Returns the exit code and the output (stdout and stderr together, cut when long).',
    inputSchema: {
      type: 'object',
      properties: {
        command: { type: 'string', description: 'the shell command, e.g. "npm test" or "node test.js"' },
        ...RUN_OPTION_SCHEMAS,
      },
      required: ['command'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
  },
  {
    name: 'read_file',
    description: 'Read a text file from the workspace.',
    inputSchema: {
      type: 'object',
      properties: {
        path: { type: 'string', description: 'relative to the workspace root' },
        max_bytes: { type: 'integer', minimum: 1, maximum: READ_LIMIT_BYTES },
      },
      required: ['path'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true },
  },
  {
    name: 'write_file',
    description: 'Write (create or replace) a text file in the workspace; missing folders are created.',
    inputSchema: {
      type: 'object',
      properties: {
        path: { type: 'string', description: 'relative to the workspace root' },
        content: { type: 'string' },
      },
      required: ['path', 'content'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  },
  {
    name: 'list_files',
    description: 'List files and folders (folders end with /) under a folder of the workspace, .git left out.',
    inputSchema: {
      type: 'object',
      properties: {
        path: { type: 'string', description: 'relative to the workspace root (default: the root)' },
        max_depth: { type: 'integer', minimum: 1, maximum: 20 },
      },
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true },
  },
  {
    name: RUN_CODE_TOOL,
    description: RUN_CODE_DESCRIPTION,
    inputSchema: {
      type: 'object',
      properties: {
        code: { type: 'string', description: 'the program: JavaScript (ES module) run by Node' },
        ...RUN_OPTION_SCHEMAS,
      },
      required: ['code'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
  },
  {
    name: 'diff',
    description: "The workspace's changes since it was copied in, as a unified diff (new and deleted files included).",
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    annotations: { readOnlyHint: true },
  },
];

/** What sandbox time costs, in micro-USD: rounded per call, so a run's total is the exact sum of its trace. */
export function sandboxCostMicros(durationMs: number, pricePerHourMicros: number): number {
  return Math.round((durationMs * pricePerHourMicros) / 3_600_000);
}

export interface SandboxCallContext {
  /** Opens (creating on first use) the run's sandbox. */
  open: () => Promise<Sandbox>;
  spec: SandboxSpec;
  pricePerHourMicros: number;
  /** Carries run_code's tool calls to the gateway; without one, run_code is refused. */
  bridge?: ToolBridge;
  /** When the sandbox this run used before was copied in (RunMeta.sandboxCreatedAt), if it used one. */
  createdAt?: string;
}

/** One call to a sandbox tool. Every failure (the sandbox's or the command's) is a result the model reads. */
export async function callSandboxTool(
  context: SandboxCallContext,
  tool: string,
  args: Record<string, unknown>,
): Promise<ToolCallResult> {
  const failed = (content: string, sandbox?: SandboxCallRecord): ToolCallResult => ({
    content,
    isError: true,
    ...(sandbox ? { sandbox } : {}),
  });
  if (!Object.hasOwn(ARGUMENTS, tool)) return failed(`the sandbox has no tool "${tool}"`);
  const schema = ARGUMENTS[tool as keyof typeof ARGUMENTS];
  const parsed = schema.safeParse(args);
  if (!parsed.success) {
    return failed(
      `invalid arguments for sandbox.${tool}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(arguments)'}: ${issue.message}`).join('; ')}`,
    );
  }
  if (tool === RUN_CODE_TOOL && !context.bridge)
    return failed("code mode is not available to this call: run_code needs the tool step's gateway bridge");
  // Arguments first: a call that cannot run creates no sandbox.
  let sandbox: Sandbox;
  try {
    sandbox = await context.open();
  } catch (error) {
    return failed(`the sandbox is unavailable, so nothing was run: ${errorMessage(error)}`);
  }
  // The run's earlier sandbox stopped (idle, or its lifetime) and this is a new one: the model must not assume its changes.
  const fresh = context.createdAt !== undefined && context.createdAt !== sandbox.createdAt;
  const note = fresh
    ? `note: the run's sandbox stopped after ${context.createdAt} and this call started a fresh one (created ${sandbox.createdAt}) from copy_in: earlier changes to the workspace are gone.\n`
    : '';
  let result: ToolCallResult;
  try {
    result = await dispatch(context, sandbox, parsed.data as SandboxArguments);
  } catch (error) {
    result = failed(`sandbox.${tool} failed: ${errorMessage(error)}`);
  }
  return { ...result, content: note + result.content, sandboxCreatedAt: sandbox.createdAt };
}

type SandboxArguments =
  | ({ tool: 'exec' } & z.output<typeof ExecArgs>)
  | ({ tool: 'read_file' } & z.output<typeof ReadArgs>)
  | ({ tool: 'write_file' } & z.output<typeof WriteArgs>)
  | ({ tool: 'list_files' } & z.output<typeof ListArgs>)
  | ({ tool: 'diff' } & z.output<typeof DiffArgs>)
  | ({ tool: 'run_code' } & z.output<typeof RunCodeArgs>);

async function dispatch(
  context: SandboxCallContext,
  sandbox: Sandbox,
  call: SandboxArguments,
): Promise<ToolCallResult> {
  const { spec } = context;
  const charged = (durationMs: number, record: Omit<SandboxCallRecord, 'durationMs'> = {}) => ({
    sandbox: { ...record, durationMs },
    costMicros: sandboxCostMicros(durationMs, context.pricePerHourMicros),
  });
  switch (call.tool) {
    case 'exec':
    case 'run_code': {
      const command =
        call.tool === 'exec' ? call.command : `run_code (${Buffer.byteLength(call.code)} bytes of JavaScript)`;
      const remainingMs = spec.run_timeout_seconds * 1000 - sandbox.usedMs();
      if (remainingMs < 1000) {
        return {
          content: `not run: this run has used its sandbox time (run_timeout_seconds: ${spec.run_timeout_seconds})`,
          isError: true,
          sandbox: { command, durationMs: 0 },
        };
      }
      const timeoutSeconds = Math.max(
        1,
        Math.min(
          call.timeout_seconds ?? spec.command_timeout_seconds,
          spec.command_timeout_seconds,
          Math.floor(remainingMs / 1000),
        ),
      );
      const { value, durationMs } =
        call.tool === 'exec'
          ? await sandbox.exec({ command: call.command, cwd: call.cwd, timeoutSeconds })
          : await sandbox.runScript({ code: call.code, cwd: call.cwd, timeoutSeconds }, context.bridge!);
      const record = {
        command,
        exitCode: value.exitCode,
        timedOut: value.timedOut || undefined,
        outputBytes: value.outputBytes,
      };
      return {
        content: describeExec(value, timeoutSeconds, spec),
        isError: isFailure(value),
        ...charged(durationMs, record),
      };
    }
    case 'read_file': {
      const { value, durationMs } = await sandbox.readFile(
        call.path,
        call.max_bytes ?? Math.min(spec.max_output_bytes * 4, READ_LIMIT_BYTES),
      );
      const cut = value.truncated ? `\n[… file cut: ${value.bytes} bytes in all]` : '';
      return { content: value.content + cut, isError: false, ...charged(durationMs) };
    }
    case 'write_file': {
      const { value, durationMs } = await sandbox.writeFile(call.path, call.content);
      return { content: `wrote ${value.bytes} bytes to ${call.path}`, isError: false, ...charged(durationMs) };
    }
    case 'list_files': {
      const { value, durationMs } = await sandbox.listFiles(call.path, call.max_depth, MAX_LIST_ENTRIES);
      const body = value.entries.length === 0 ? '(empty)' : value.entries.join('\n');
      return {
        content: body + (value.truncated ? `\n[… more than ${MAX_LIST_ENTRIES} entries]` : ''),
        isError: false,
        ...charged(durationMs),
      };
    }
    case 'diff': {
      const { value, durationMs } = await sandbox.diff(DIFF_LIMIT_BYTES);
      const body = value.content === '' ? '(no changes since copy-in)' : value.content;
      return {
        content: body + (value.truncated ? `\n[… diff cut: ${value.bytes} bytes in all]` : ''),
        isError: false,
        ...charged(durationMs),
      };
    }
  }
}

function isFailure(result: ExecResult): boolean {
  return result.exitCode !== 0 || result.timedOut || result.outputFlood || result.diskOverMb !== undefined;
}

/** The model reads why a command failed, as a failed tool call, never as a crash. */
function describeExec(result: ExecResult, timeoutSeconds: number, spec: SandboxSpec): string {
  const lines: string[] = [];
  if (result.timedOut)
    lines.push(
      `killed: the command ran longer than its ${timeoutSeconds} s timeout (everything it started was stopped)`,
    );
  else if (result.outputFlood)
    lines.push(
      `killed: the command printed more than ${result.outputBytes} bytes, far beyond max_output_bytes (${spec.max_output_bytes})`,
    );
  else lines.push(`exit code ${result.exitCode ?? 'none (killed)'}`);
  if (result.diskOverMb !== undefined)
    lines.push(
      `the workspace now holds ${result.diskOverMb} MB, over disk_mb (${spec.disk_mb}); remove files before going on`,
    );
  lines[0] += ` after ${(result.durationMs / 1000).toFixed(2)} s`;
  const cut = result.truncated
    ? `\n[… output cut: ${result.outputBytes} bytes in all, ${spec.max_output_bytes} kept]`
    : '';
  return `${lines.join('; ')}\n${result.output === '' ? '(no output)' : result.output}${cut}`;
}
