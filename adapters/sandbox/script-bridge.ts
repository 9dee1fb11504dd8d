import type { Readable, Writable } from 'node:stream';
import * as z from '../../core/definitions/zod.ts';
import { jsonTextDepthProblem, MAX_BODY_DEPTH } from '../../core/limits/json-shape.ts';
import type { ScriptToolResult, ToolBridge } from '../../core/ports/sandbox.ts';
import { BRIDGE_MAX_LINE_BYTES } from './script-preamble.ts';

/**
 * looprail's end of a code-mode script's tools bridge: reads the script's requests (one
 * JSON object a line on its fd 3), hands each tool call to the bridge (the run's gateway,
 * which applies grants, approvals, guardrails and the trace) and writes the answer back
 * (fd 4). Whatever the script sends, nothing here throws: a bad line is answered with an
 * error (when it names an id) or dropped.
 *
 * Request: `{"id": <int>, "method": "call", "name": "server.tool", "arguments": {…}}`.
 * Answer: `{"id", "content", "isError"}`, or `{"id", "error"}` when the request itself was refused.
 */

/** Calls one script may have waiting at once: more is a script gone wrong, not a workload. */
export const BRIDGE_MAX_PENDING = 64;

const BridgeRequest = z.object({
  id: z.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER)),
  method: z.string(),
  name: z.optional(z.string()),
  arguments: z.optional(z.unknown()),
});
const CallRequest = z.object({
  name: z
    .string()
    .check(
      z.minLength(1, 'expected a tool name such as github.list_issues'),
      z.maxLength(256, 'expected a tool name of at most 256 characters'),
    ),
  arguments: z._default(z.record(z.string(), z.unknown(), { error: 'expected the arguments as an object' }), {}),
});

export class ScriptBridgeHost {
  /** Tool calls handed to the bridge. */
  calls = 0;
  readonly #replies: Writable;
  readonly #bridge: ToolBridge;
  #pending = 0;
  #closed = false;
  #chunks: Buffer[] = [];
  #bytes = 0;
  /** Inside a line longer than the limit: dropped up to its newline. */
  #overlong = false;
  #overlongId: number | undefined;

  constructor(requests: Readable, replies: Writable, bridge: ToolBridge) {
    this.#replies = replies;
    this.#bridge = bridge;
    requests.on('data', (chunk: Buffer) => this.#take(chunk));
    requests.on('error', () => undefined);
    replies.on('error', () => undefined);
  }

  /** The script ended: answers that come later are dropped. */
  close(): void {
    this.#closed = true;
    this.#chunks = [];
  }

  #take(chunk: Buffer): void {
    if (this.#closed) return;
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline >= 0; newline = chunk.indexOf(0x0a, start)) {
      this.#append(chunk.subarray(start, newline));
      this.#endLine();
      start = newline + 1;
    }
    this.#append(chunk.subarray(start));
  }

  #append(part: Buffer): void {
    if (part.length === 0) return;
    if (this.#overlong) return;
    if (this.#bytes + part.length > BRIDGE_MAX_LINE_BYTES) {
      // Keep nothing more of it; answer its id (requests start with it) once its end arrives.
      const head = Buffer.concat([...this.#chunks, part])
        .subarray(0, 64)
        .toString('latin1');
      const id = /^\{"id":(\d{1,15})[,}]/.exec(head)?.[1];
      this.#overlongId = id === undefined ? undefined : Number(id);
      this.#overlong = true;
      this.#chunks = [];
      this.#bytes = 0;
      return;
    }
    this.#chunks.push(part);
    this.#bytes += part.length;
  }

  #endLine(): void {
    if (this.#overlong) {
      this.#overlong = false;
      if (this.#overlongId !== undefined)
        this.#reply({ id: this.#overlongId, error: `the request is over the ${BRIDGE_MAX_LINE_BYTES} byte limit` });
      return;
    }
    const line = Buffer.concat(this.#chunks).toString('utf8');
    this.#chunks = [];
    this.#bytes = 0;
    if (line.trim() === '') return;
    // Before JSON.parse: the schemas and the governed call walk what is parsed.
    const deep = jsonTextDepthProblem(line, MAX_BODY_DEPTH, 'request');
    if (deep) {
      const id = /^\{"id":(\d{1,15})[,}]/.exec(line)?.[1];
      if (id !== undefined) this.#reply({ id: Number(id), error: deep.message });
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return; // Not ours (a script writing to the pipe itself): no id to answer.
    }
    const request = BridgeRequest.safeParse(parsed);
    if (!request.success) return;
    const { id, method } = request.data;
    if (method !== 'call') {
      this.#reply({ id, error: `unknown method "${method.slice(0, 64)}" (expected "call")` });
      return;
    }
    const call = CallRequest.safeParse(request.data);
    if (!call.success) {
      this.#reply({
        id,
        error: call.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '),
      });
      return;
    }
    if (this.#pending >= BRIDGE_MAX_PENDING) {
      this.#reply({ id, error: `too many tool calls waiting at once (at most ${BRIDGE_MAX_PENDING})` });
      return;
    }
    this.calls += 1;
    this.#pending += 1;
    const answered = (result: ScriptToolResult) => {
      this.#pending -= 1;
      this.#reply({ id, content: result.content, isError: result.isError });
    };
    // A bridge that throws or rejects is a failed call the script reads, never a crash here.
    Promise.resolve()
      .then(() => this.#bridge({ name: call.data.name, arguments: call.data.arguments }))
      .then(
        (result) => answered({ content: String(result.content), isError: result.isError === true }),
        (error: unknown) =>
          answered({
            content: `the tool call failed: ${error instanceof Error ? error.message : String(error)}`,
            isError: true,
          }),
      );
  }

  #reply(reply: Record<string, unknown>): void {
    if (this.#closed || this.#replies.destroyed || this.#replies.writableEnded) return;
    this.#replies.write(`${JSON.stringify(reply)}\n`);
  }
}
