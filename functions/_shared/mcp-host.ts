import { S3Client } from '@aws-sdk/client-s3';
import { isAbsolute, join } from 'node:path';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { encodeError, type HostedServer, HostRequest, type HostResponse } from '../../adapters/mcp/host-protocol.ts';
import { McpDirectConnections } from '../../adapters/mcp/mcp-direct.ts';
import { S3StateFolder } from '../../adapters/mcp/state-folder.ts';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import { SecretsManagerStore } from '../../adapters/secrets/secrets-manager.ts';
import type { McpServerDeclaration } from '../../core/definitions/org.ts';
import { callTimeoutSeconds } from '../../core/definitions/server-timeouts.ts';
import { ValidationError } from '../../core/errors.ts';
import type * as z from '../../core/definitions/zod.ts';
import { McpHostEnv } from './env-contract.ts';

/**
 * The MCP host: one Lambda per hosted stdio server (infra/constructs/mcp-hosts.ts). Its
 * asset holds this handler, the server bundled as one file and the project files its
 * arguments name; it starts the server as `node <asset>/<bundle> <args>` over the same
 * stdio connection code as the local host (McpDirectConnections, loaded at init), keeps it running between
 * invocations of a warm container, and starts it again if it died. A server whose
 * declaration uses `${LOOPRAIL_STATE_DIR}` keeps that folder in S3 (state-folder.ts).
 */

const PLACEHOLDER = '${LOOPRAIL_STATE_DIR}';
/** Lambda answers a synchronous Invoke with at most 6 MB: a larger result would fail the call every time. */
const MAX_RESULT_BYTES = 5_000_000;

export type McpHostHandler = (event: unknown) => Promise<HostResponse>;

export function mcpHostFromEnv(env: Record<string, string | undefined> = process.env): McpHostHandler {
  const parsed = McpHostEnv.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new Error(`the MCP host's environment is invalid: ${problems}`);
  }
  const settings = parsed.data;
  const taskRoot = env.LAMBDA_TASK_ROOT ?? process.cwd();
  const server = runnable(settings.LOOPRAIL_MCP_SERVER, taskRoot);
  const log = jsonLogger(settings.LOOPRAIL_LOG_LEVEL, undefined, { server: server.name });
  const secrets =
    settings.LOOPRAIL_SECRETS === 'aws'
      ? new SecretsManagerStore({})
      : new LocalSecretStore({ file: settings.LOOPRAIL_SECRETS_FILE, env });
  const gateway = new McpDirectConnections({
    secrets,
    projectRoot: taskRoot,
    stateDir: settings.LOOPRAIL_STATE_DIR,
    logger: (line) => log.info(line),
  });
  const bucket = settings.LOOPRAIL_MCP_STATE_BUCKET;
  const state =
    bucket !== undefined && JSON.stringify(server.transport).includes(PLACEHOLDER)
      ? new S3StateFolder({
          // The test host serves S3 on 127.0.0.1, where virtual-hosted bucket names do not resolve.
          client: new S3Client({ forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL) }),
          bucket,
          prefix: `${server.name}/`,
          dir: settings.LOOPRAIL_STATE_DIR,
        })
      : undefined;
  let restored: Promise<unknown> | undefined;

  return async (event) => {
    const started = performance.now();
    const request = HostRequest.safeParse(event);
    if (!request.success) {
      return {
        ok: false,
        error: encodeError(new ValidationError(`not an MCP host request: ${request.error.message}`)),
      };
    }
    const op = request.data;
    try {
      // Before the server starts in this container: it reads its state from the folder.
      restored ??= state?.restore().catch((error: unknown) => {
        restored = undefined;
        throw error;
      });
      await restored;
      if (op.op === 'listTools') return { ok: true, tools: await gateway.listTools(server) };
      const timeoutMs = op.timeoutMs ?? callTimeoutSeconds(server) * 1000;
      const result = await gateway.callTool(server, op.name, op.arguments, { timeoutMs });
      // Saved even after an isError answer: the server may have written part of the change.
      if (state && server.tools[op.name]?.read_only !== true) await state.save();
      return { ok: true, result: { content: fitted(result.content), isError: result.isError } };
    } catch (error) {
      const encoded = encodeError(error);
      log.warn('mcp host request failed', { op: op.op, error: encoded.name });
      return { ok: false, error: encoded };
    } finally {
      log.info('mcp host request', { op: op.op, ms: Math.round(performance.now() - started) });
    }
  };
}

/**
 * The declaration as bundled names its program by its file in the asset (`server.mjs`):
 * Lambda has no npx, so the host starts it with its own Node.
 */
function runnable(hosted: z.output<typeof HostedServer>, taskRoot: string): McpServerDeclaration {
  const program = isAbsolute(hosted.program) ? hosted.program : join(taskRoot, hosted.program);
  const { env, env_secrets, cwd } = hosted;
  return {
    name: hosted.name,
    transport: { type: 'stdio', command: process.execPath, args: [program, ...hosted.args], env, env_secrets, cwd },
    timeouts: hosted.timeouts,
    tools: Object.fromEntries(hosted.read_only_tools.map((tool) => [tool, { read_only: true }])),
  };
}

/** A result cut to what an Invoke answer can carry, saying so (the run offloads large results on its own side). */
function fitted(content: string): string {
  if (Buffer.byteLength(content) <= MAX_RESULT_BYTES) return content;
  const kept = Buffer.from(content).subarray(0, MAX_RESULT_BYTES).toString('utf8');
  return `${kept}\n[cut by the MCP host: the result was larger than a Lambda answer can carry]`;
}
