import * as z from 'zod';
import { SandboxSpec, WorkspacePath } from '../../core/definitions/sandbox.ts';

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

const Millis = z.number().int().min(0);

/** Sent with every answer: the sandbox time used so far (the agent keeps the meter). */
const Metered = z.object({ durationMs: Millis, usedMs: Millis });

// POST /v1/init — idempotent: a second init answers with the state the first one made.
export const InitRequest = z.object({
  spec: SandboxSpec,
  /** copy_in.files, already read from the run's input. */
  files: z.array(z.object({ path: WorkspacePath, content: z.string() })).default([]),
  /** The repository: a gzipped tar of the org folder's copy (base64), or a URL the agent clones (needs network to its host). */
  repository: z
    .union([z.object({ archive: z.string().min(1) }), z.object({ url: z.string().url(), ref: z.string().min(1) })])
    .optional(),
});
export type InitRequest = z.input<typeof InitRequest>;
export const InitResponse = z.object({
  base: z.string().regex(/^[0-9a-f]{40,64}$/),
  usedMs: Millis,
  createdAt: z.string(),
});
export type InitResponse = z.infer<typeof InitResponse>;

// GET /v1/health — ready once init is done (`base` set); before init, `{ ready: false }`.
export const HealthResponse = z.object({
  ready: z.boolean(),
  usedMs: Millis,
  /** Once ready: when the workspace was copied in. */ createdAt: z.string().optional(),
});
export type HealthResponse = z.infer<typeof HealthResponse>;

// POST /v1/exec
export const ExecRequestBody = z.object({
  command: z.string().min(1),
  cwd: WorkspacePath.or(z.literal('.')),
  timeoutSeconds: z.number().int().positive(),
});
export const ExecResultBody = z.object({
  exitCode: z.number().int().optional(),
  timedOut: z.boolean(),
  outputFlood: z.boolean(),
  output: z.string(),
  outputBytes: Millis,
  truncated: z.boolean(),
  durationMs: Millis,
  diskOverMb: z.number().int().optional(),
});
export const ExecResponse = Metered.extend({ value: ExecResultBody });

// POST /v1/read
export const ReadRequestBody = z.object({ path: WorkspacePath, maxBytes: z.number().int().positive() });
export const FileReadBody = z.object({ content: z.string(), bytes: Millis, truncated: z.boolean() });
export const ReadResponse = Metered.extend({ value: FileReadBody });

// POST /v1/write
export const WriteRequestBody = z.object({ path: WorkspacePath, content: z.string() });
export const WriteResponse = Metered.extend({ value: z.object({ bytes: Millis }) });

// POST /v1/list
export const ListRequestBody = z.object({
  path: WorkspacePath.or(z.literal('.')),
  maxDepth: z.number().int().min(1).max(20),
  maxEntries: z.number().int().positive(),
});
export const ListResponse = Metered.extend({
  value: z.object({ entries: z.array(z.string()), truncated: z.boolean() }),
});

// POST /v1/diff
export const DiffRequestBody = z.object({ maxBytes: z.number().int().positive() });
export const DiffResponse = ReadResponse;

/*
 * Code mode. POST /v1/scripts starts a script; the answer comes when the script finishes,
 * asks for tool calls, or a long-poll window (`waitMs`) passes. POST /v1/scripts/<id>/results
 * hands back results of calls it asked for (or none, to keep waiting) and answers the same
 * way. A script whose results do not come back within its timeout is killed.
 */
export const ScriptStartBody = z.object({
  code: z.string().min(1),
  cwd: WorkspacePath.or(z.literal('.')),
  timeoutSeconds: z.number().int().positive(),
  waitMs: z.number().int().positive().max(300_000).default(25_000),
});
export const ScriptResultsBody = z.object({
  results: z.array(z.object({ callId: z.string().min(1), content: z.string(), isError: z.boolean() })),
  waitMs: z.number().int().positive().max(300_000).default(25_000),
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
    value: ExecResultBody.extend({ toolCalls: Millis }),
    durationMs: Millis,
    usedMs: Millis,
  }),
]);
export type ScriptEvent = z.infer<typeof ScriptEvent>;
