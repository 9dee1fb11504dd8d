import { mkdir } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { McpServerDeclaration } from '../../core/definitions/org.ts';
import { ConfigurationError } from '../../core/errors.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';

/** Builds the transport a declared MCP server is reached over, resolving its secrets. */

export interface TransportContext {
  secrets: SecretStore;
  /** Absolute; where node_modules/.bin and relative `cwd`s are found. */
  projectRoot: string;
  /** Absolute; replaces `${LOOPRAIL_STATE_DIR}`. */
  stateDir: string | undefined;
  log: (line: string) => void;
}

type StdioSpec = Extract<McpServerDeclaration['transport'], { type: 'stdio' }>;

export async function stdioTransport(
  context: TransportContext,
  server: McpServerDeclaration,
  spec: StdioSpec,
  secretValues: string[],
): Promise<StdioClientTransport> {
  const expand = await placeholders(context, server, spec);
  const env: Record<string, string> = { ...baseEnv(context.projectRoot) };
  for (const [variable, value] of Object.entries(spec.env)) env[variable] = expand(value);
  for (const [variable, secretName] of Object.entries(spec.env_secrets)) {
    const value = await context.secrets.get(secretName);
    secretValues.push(value);
    env[variable] = value;
  }
  const command = expand(spec.command);
  const args = spec.args.map(expand);
  context.log(`mcp: ${server.name}: starting ${command} ${args.join(' ')}`.trimEnd());
  return new StdioClientTransport({
    command,
    args,
    env,
    cwd: spec.cwd === undefined ? context.projectRoot : resolve(context.projectRoot, expand(spec.cwd)),
    // Piped, not inherited: the server's chatter must not land on our stdout, and we
    // keep its tail for error messages.
    stderr: 'pipe',
  });
}

/**
 * Declarations name runtime-owned folders by placeholder, since the same file runs on
 * a laptop and in Lambda (where only /tmp is writable).
 */
async function placeholders(
  context: TransportContext,
  server: McpServerDeclaration,
  spec: StdioSpec,
): Promise<(text: string) => string> {
  const placeholder = '${LOOPRAIL_STATE_DIR}';
  const texts = [spec.command, ...spec.args, ...Object.values(spec.env), spec.cwd ?? ''];
  if (!texts.some((text) => text.includes(placeholder))) return (text) => text;
  const stateDir = context.stateDir;
  if (stateDir === undefined) {
    throw new ConfigurationError(`MCP server "${server.name}" uses ${placeholder}, but no state folder was configured`);
  }
  await mkdir(stateDir, { recursive: true });
  return (text) => text.replaceAll(placeholder, stateDir);
}

/**
 * The child's environment starts nearly empty: our own environment holds credentials
 * (AWS keys, model API keys) that a third-party server has no business seeing.
 */
function baseEnv(projectRoot: string): Record<string, string> {
  const bin = join(projectRoot, 'node_modules', '.bin');
  const env: Record<string, string> = { PATH: [bin, process.env.PATH].filter(Boolean).join(delimiter) };
  for (const name of ['HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'TZ', 'SYSTEMROOT', 'USERPROFILE', 'APPDATA']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

export async function httpTransport(
  context: TransportContext,
  server: McpServerDeclaration,
  url: string,
  secretValues: string[],
): Promise<StreamableHTTPClientTransport> {
  const headers: Record<string, string> = {};
  if (server.auth) {
    const value = await context.secrets.get(server.auth.secret);
    secretValues.push(value);
    headers[server.auth.header] = server.auth.scheme ? `${server.auth.scheme} ${value}` : value;
  }
  return new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers },
    // Short, few retries: a stream that cannot be resumed quickly is treated as a dead server.
    reconnectionOptions: {
      initialReconnectionDelay: 250,
      maxReconnectionDelay: 1_000,
      reconnectionDelayGrowFactor: 2,
      maxRetries: 2,
    },
  });
}
