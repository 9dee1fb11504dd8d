import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { McpServerDeclaration } from '../../core/definitions/org.ts';

/**
 * What a stdio server declaration runs, as a program that can be bundled into a Lambda
 * (which has no npx and no node_modules): an installed Node package's bin, or a .js/.mjs
 * file inside the project run with `node`. validate and synth refuse any other command,
 * and the MCP host construct bundles the entry and copies the project files its args name.
 */

export type StdioSpec = Extract<McpServerDeclaration['transport'], { type: 'stdio' }>;

export interface HostedProgram {
  /** Absolute path of the JavaScript file esbuild bundles as the server. */
  entry: string;
  /** The arguments after the program (for `node server.mjs a b`: a, b). */
  args: string[];
  /** Where it came from, for messages: `mcp-server-memory (@modelcontextprotocol/server-memory)`. */
  source: string;
}

export type ProgramResolution = { ok: true; program: HostedProgram } | { ok: false; reason: string };

const JS_FILE = /\.(c|m)?js$/i;
const NODE_COMMAND = /^node(\.exe)?$/i;

/** Resolves a stdio declaration's command the way the project would start it, or says why it cannot be hosted. */
export function resolveStdioProgram(projectRoot: string, spec: StdioSpec): ProgramResolution {
  const command = spec.command;
  if (command.includes('${')) return { ok: false, reason: `"${command}" is built from a placeholder` };
  if (NODE_COMMAND.test(command)) {
    const [script, ...rest] = spec.args;
    if (script === undefined || !JS_FILE.test(script))
      return {
        ok: false,
        reason: '`node` is hosted only with a .js or .mjs file of the project as its first argument',
      };
    const file = insideProject(projectRoot, script);
    if (!file) return { ok: false, reason: `"${script}" is not a file inside the project` };
    return { ok: true, program: { entry: file, args: rest, source: relative(projectRoot, file) } };
  }
  if (command.includes('/') || command.includes('\\')) {
    const file = JS_FILE.test(command) ? insideProject(projectRoot, command) : undefined;
    if (!file) return { ok: false, reason: `"${command}" is not a .js or .mjs file inside the project` };
    return { ok: true, program: { entry: file, args: spec.args, source: relative(projectRoot, file) } };
  }
  const bin = join(projectRoot, 'node_modules', '.bin', command);
  if (!existsSync(bin)) return { ok: false, reason: `"${command}" is not a bin of an installed Node package` };
  const entry = realpathSync(bin);
  if (!isNodeScript(entry)) return { ok: false, reason: `node_modules/.bin/${command} is not a Node.js program` };
  const pkg = packageOf(entry);
  return { ok: true, program: { entry, args: spec.args, source: pkg ? `${command} (${pkg})` : command } };
}

/** An existing file or folder inside the project (not the project itself): absolute, or undefined. */
export function insideProject(projectRoot: string, path: string): string | undefined {
  if (path === '' || path.includes('${')) return undefined;
  const absolute = isAbsolute(path) ? path : resolve(projectRoot, path);
  const fromRoot = relative(projectRoot, absolute);
  if (fromRoot === '' || fromRoot.startsWith('..') || isAbsolute(fromRoot)) return undefined;
  if (fromRoot.split(sep).some((part) => part === 'node_modules' || part === '.git')) return undefined;
  return existsSync(absolute) ? absolute : undefined;
}

/** The asset path a project file is copied to (beside the bundles, never over them). */
export function assetPathOf(projectRoot: string, absolute: string): string {
  return ['data', ...relative(projectRoot, absolute).split(sep)].join('/');
}

function isNodeScript(file: string): boolean {
  if (!statSync(file).isFile()) return false;
  if (JS_FILE.test(file)) return true;
  const head = readFileSync(file, 'utf8').slice(0, 200);
  return /^#!.*\bnode\b/.test(head);
}

/** The name of the package a file belongs to (its nearest package.json with a name). */
function packageOf(file: string): string | undefined {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const name = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
    if (typeof name === 'string') return name;
  }
  return undefined;
}
