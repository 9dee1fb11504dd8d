/**
 * What a code-mode script sees inside the sandbox (the model's program, run by Node as an
 * ES module). The preamble below runs first and defines, as globals:
 *
 * - `tools.call(name, args?)` → Promise<string>: calls a tool of the run (`server.tool`,
 *   as the model names tools) and resolves to its result text. A result the tool (or
 *   looprail: a refused grant, a guardrail, an approval) marks as an error rejects with a
 *   `ToolError`. Calls may run concurrently (`Promise.all`).
 * - `tools.json(name, args?)` → Promise<unknown>: `JSON.parse` of `tools.call`'s text.
 * - `ToolError`: `.tool` (the name called), `.content` (the result text), `.message`.
 * - `require`: CommonJS `require` resolved from the script's working folder, so
 *   `require('./src/add.js')` loads the workspace's file (an ES module has none of its own).
 *
 * Calls leave over the command's own pipes (fd 3: requests, fd 4: replies), one JSON
 * object a line; looprail answers each (script-bridge.ts). The model's code is a file of
 * its own (`script.mjs`), imported after the preamble, so its stack traces and line
 * numbers are its own. What it prints (stdout and stderr) is the tool call's result.
 */

/** Largest request line a script may send (looprail refuses anything bigger). */
export const BRIDGE_MAX_LINE_BYTES = 1024 * 1024;

/** Printed (alone) by the wrapper when the sandbox has no Node to run a script with. */
export const NO_NODE_MARKER = 'looprail-sandbox: no node for code mode';

/**
 * `sh -c` script that starts a code-mode program: `$1` the node to run, `$2` the preamble;
 * the model's code arrives on stdin, so nothing of it is ever parsed as shell or as the
 * preamble. TMPDIR is the sandbox's own, empty at each command's start.
 */
export const SCRIPT_SHELL = [
  `command -v "$1" >/dev/null 2>&1 || { echo '${NO_NODE_MARKER}' >&2; exit 127; }`,
  'd="${TMPDIR:-/tmp}/looprail-code"',
  'rm -rf -- "$d" && mkdir -m 700 -- "$d" || exit 1',
  `printf '%s' "$2" > "$d/tools.mjs" && cat > "$d/script.mjs" || exit 1`,
  'exec "$1" "$d/tools.mjs" "$d/script.mjs"',
].join('\n');

export const SCRIPT_PREAMBLE = `// looprail code mode: the tools bridge (the model's code is script.mjs, beside this file)
import { Socket } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const MAX_LINE_BYTES = ${BRIDGE_MAX_LINE_BYTES};
const requests = new Socket({ fd: 3, readable: false, writable: true });
const replies = new Socket({ fd: 4, readable: true, writable: false });
requests.on('error', () => {});
replies.on('error', () => {});
// Idle pipes keep nothing alive: a script ends when its own work ends; a pending call holds it.
requests.unref();
replies.unref();

class ToolError extends Error {
  constructor(tool, content) {
    super(tool + ' failed: ' + (content.length > 2000 ? content.slice(0, 2000) + '…' : content));
    this.name = 'ToolError';
    this.tool = tool;
    this.content = content;
  }
}

const pending = new Map();
let nextId = 1;
let buffered = '';
let closed = false;

/** The error gets the stack of the script's own call, not of the pipe's data handler. */
function fail(call, error) {
  const frames = call.origin.split('\\n').slice(2).join('\\n');
  error.stack = error.name + ': ' + error.message + (frames ? '\\n' + frames : '');
  call.reject(error);
}

function settle(reply) {
  const call = pending.get(reply.id);
  if (!call) return;
  pending.delete(reply.id);
  if (pending.size === 0) replies.unref();
  if (typeof reply.error === 'string') fail(call, new Error("tools.call('" + call.name + "'): " + reply.error));
  else if (reply.isError === true) fail(call, new ToolError(call.name, String(reply.content ?? '')));
  else call.resolve(String(reply.content ?? ''));
}

replies.setEncoding('utf8');
replies.on('data', (chunk) => {
  buffered += chunk;
  let newline;
  while ((newline = buffered.indexOf('\\n')) >= 0) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    let reply;
    try {
      reply = JSON.parse(line);
    } catch {
      continue;
    }
    if (reply && typeof reply === 'object' && Number.isInteger(reply.id)) settle(reply);
  }
});
replies.on('close', () => {
  closed = true;
  for (const id of [...pending.keys()]) settle({ id, error: 'the tools bridge closed' });
});

function call(name, args = {}) {
  const origin = new Error().stack ?? '';
  if (typeof name !== 'string' || name === '') {
    return Promise.reject(new TypeError('tools.call(name, args): name must be a tool name such as "github.list_issues"'));
  }
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    return Promise.reject(new TypeError("tools.call('" + name + "', args): args must be an object"));
  }
  if (closed) return Promise.reject(new Error("tools.call('" + name + "'): the tools bridge closed"));
  const id = nextId++;
  let line;
  try {
    line = JSON.stringify({ id, method: 'call', name, arguments: args });
  } catch (error) {
    return Promise.reject(new TypeError("tools.call('" + name + "'): the arguments cannot be sent as JSON: " + error.message));
  }
  const bytes = Buffer.byteLength(line);
  if (bytes > MAX_LINE_BYTES) {
    return Promise.reject(new RangeError("tools.call('" + name + "'): the request is " + bytes + ' bytes, over the ' + MAX_LINE_BYTES + ' byte limit'));
  }
  return new Promise((resolve, reject) => {
    pending.set(id, { name, origin, resolve, reject });
    replies.ref();
    requests.write(line + '\\n');
  });
}

async function json(name, args = {}) {
  const text = await call(name, args);
  try {
    return JSON.parse(text);
  } catch {
    throw new SyntaxError("tools.json('" + name + "'): the result is not JSON: " + (text.length > 200 ? text.slice(0, 200) + '…' : text));
  }
}

Object.defineProperty(globalThis, 'tools', { value: Object.freeze({ call, json }), enumerable: false, configurable: true, writable: true });
Object.defineProperty(globalThis, 'ToolError', { value: ToolError, enumerable: false, configurable: true, writable: true });
Object.defineProperty(globalThis, 'require', { value: createRequire(join(process.cwd(), 'script.cjs')), enumerable: false, configurable: true, writable: true });

await import(pathToFileURL(process.argv[2]).href);
`;
