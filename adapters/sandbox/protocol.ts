import { SandboxSpec, WorkspacePath } from '../../core/definitions/sandbox.ts';
import * as z from '../../core/definitions/zod.ts';

/**
 * The wire format between looprail and the sandbox agent that runs inside a run's
 * container on AWS (containers/sandbox-agent/): HTTP/1.1 with JSON bodies, every request
 * carrying `Authorization: Bearer <token>`. The token is derived per sandbox by the broker
 * (HMAC of the sandbox id under a key read by name); the container only ever holds its
 * SHA-256 (LOOPRAIL_SANDBOX_TOKEN_SHA256), so a command that reads the agent's
 * environment learns nothing it could present.
 *
 * Every body is parsed with these schemas on both sides. An error is
 * `{ error: { name, message } }` with a 4xx (the request was wrong) or 5xx status.
 */

export const AGENT_PORT = 8181;

export const ErrorBody = z.object({ error: z.object({ name: z.string(), message: z.string() }) });
export type ErrorBody = z.infer<typeof ErrorBody>;

const Millis = z.number().check(z.int(), z.minimum(0));

/** Sent with every answer: the sandbox time used so far (the agent keeps the meter). */
const Metered = z.object({ durationMs: Millis, usedMs: Millis });

// POST /v1/init — idempotent: a second init answers with the state the first one made.
export const InitRequest = z.object({
  spec: SandboxSpec,
  /** copy_in.files, already read from the run's input. */
  files: z._default(z.array(z.object({ path: WorkspacePath, content: z.string() })), []),
  /** The repository: a gzipped tar of the org folder's copy (base64), or a URL the agent clones (needs network to its host). */
  repository: z.optional(
    z.union([
      z.object({ archive: z.string().check(z.minLength(1)) }),
      z.object({ url: z.url(), ref: z.string().check(z.minLength(1)) }),
    ]),
  ),
});
export type InitRequest = z.input<typeof InitRequest>;
export const InitResponse = z.object({
  base: z.string().check(z.regex(/^[0-9a-f]{40,64}$/)),
  usedMs: Millis,
  createdAt: z.string(),
});
export type InitResponse = z.infer<typeof InitResponse>;

// GET /v1/health — ready once init is done (`base` set); before init, `{ ready: false }`.
export const HealthResponse = z.object({
  ready: z.boolean(),
  usedMs: Millis,
  /** Once ready: when the workspace was copied in. */ createdAt: z.optional(z.string()),
});
export type HealthResponse = z.infer<typeof HealthResponse>;

// POST /v1/exec
export const ExecRequestBody = z.object({
  command: z.string().check(z.minLength(1)),
  cwd: z.union([WorkspacePath, z.literal('.')]),
  timeoutSeconds: z.number().check(z.int(), z.positive()),
});
export const ExecResultBody = z.object({
  exitCode: z.optional(z.number().check(z.int())),
  timedOut: z.boolean(),
  outputFlood: z.boolean(),
  output: z.string(),
  outputBytes: Millis,
  truncated: z.boolean(),
  durationMs: Millis,
  diskOverMb: z.optional(z.number().check(z.int())),
});
export const ExecResponse = z.extend(Metered, { value: ExecResultBody });

// POST /v1/read
export const ReadRequestBody = z.object({ path: WorkspacePath, maxBytes: z.number().check(z.int(), z.positive()) });
export const FileReadBody = z.object({ content: z.string(), bytes: Millis, truncated: z.boolean() });
export const ReadResponse = z.extend(Metered, { value: FileReadBody });

// POST /v1/write
export const WriteRequestBody = z.object({ path: WorkspacePath, content: z.string() });
export const WriteResponse = z.extend(Metered, { value: z.object({ bytes: Millis }) });

// POST /v1/list
export const ListRequestBody = z.object({
  path: z.union([WorkspacePath, z.literal('.')]),
  maxDepth: z.number().check(z.int(), z.minimum(1), z.maximum(20)),
  maxEntries: z.number().check(z.int(), z.positive()),
});
export const ListResponse = z.extend(Metered, {
  value: z.object({ entries: z.array(z.string()), truncated: z.boolean() }),
});

// POST /v1/diff
export const DiffRequestBody = z.object({ maxBytes: z.number().check(z.int(), z.positive()) });
export const DiffResponse = ReadResponse;

/*
 * Code mode. POST /v1/scripts starts a script; the answer comes when the script finishes,
 * asks for tool calls, or a long-poll window (`waitMs`) passes. POST /v1/scripts/<id>/results
 * hands back results of calls it asked for (or none, to keep waiting) and answers the same
 * way. A script whose results do not come back within its timeout is killed.
 */
export const ScriptStartBody = z.object({
  code: z.string().check(z.minLength(1)),
  cwd: z.union([WorkspacePath, z.literal('.')]),
  timeoutSeconds: z.number().check(z.int(), z.positive()),
  waitMs: z._default(z.number().check(z.int(), z.positive(), z.maximum(300_000)), 25_000),
});
export const ScriptResultsBody = z.object({
  results: z.array(z.object({ callId: z.string().check(z.minLength(1)), content: z.string(), isError: z.boolean() })),
  waitMs: z._default(z.number().check(z.int(), z.positive(), z.maximum(300_000)), 25_000),
});
export const ScriptEvent = z.discriminatedUnion('state', [
  /** The script asks for these calls; it waits until their results are posted. */
  z.object({
    state: z.literal('calls'),
    scriptId: z.string(),
    calls: z.array(z.object({ callId: z.string(), name: z.string(), arguments: z.record(z.string(), z.unknown()) })),
  }),
  /** Nothing new within waitMs: ask again (post no results). */
  z.object({ state: z.literal('running'), scriptId: z.string() }),
  z.object({
    state: z.literal('done'),
    scriptId: z.string(),
    value: z.extend(ExecResultBody, { toolCalls: Millis }),
    durationMs: Millis,
    usedMs: Millis,
  }),
]);
export type ScriptEvent = z.infer<typeof ScriptEvent>;
