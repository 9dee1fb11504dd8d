import { accessSync, constants } from 'node:fs';
import {
  ENV_AGENT_IDLE_SECONDS,
  ENV_AGENT_MAX_SECONDS,
  ENV_AGENT_TOKEN_SHA256,
} from '../../adapters/sandbox/aws-contract.ts';
import { AGENT_PORT } from '../../adapters/sandbox/protocol.ts';
import * as z from '../../core/definitions/zod.ts';
import { killProcessesOf } from './launcher.ts';
import { createSandboxAgent } from './server.ts';

/**
 * The sandbox container's entry point (bundled to agent.mjs, run by the Node the init
 * container copied in): reads its settings from the environment the task definition and
 * RunTask gave it, listens on 0.0.0.0:AGENT_PORT, and logs one JSON line per request
 * (operation, status, duration: never a command, a file's content or a token).
 */

const Seconds = z.coerce.number().check(z.int(), z.positive());
const Env = z.object({
  [ENV_AGENT_TOKEN_SHA256]: z
    .string()
    .check(z.regex(/^[0-9a-f]{64}$/, "expected the agent token's SHA-256 (64 hex digits)")),
  [ENV_AGENT_IDLE_SECONDS]: z.optional(Seconds),
  [ENV_AGENT_MAX_SECONDS]: z.optional(Seconds),
  /** Set by the broker only for a network allowlist: the egress proxy with this sandbox's credentials. */
  HTTPS_PROXY: z.optional(z.url()),
  HTTP_PROXY: z.optional(z.url()),
  https_proxy: z.optional(z.url()),
  http_proxy: z.optional(z.url()),
});

const UID = 1000;

function line(entry: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
}

const parsed = Env.safeParse(process.env);
if (!parsed.success) {
  // Names and messages only: never a value.
  line({
    event: 'start_failed',
    problems: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
  });
  process.exit(1);
}
const env = parsed.data;
const proxyUrl = env.HTTPS_PROXY ?? env.https_proxy ?? env.HTTP_PROXY ?? env.http_proxy;
// The agent's own process needs none of them once read (commands never see its environment anyway).
for (const name of [ENV_AGENT_TOKEN_SHA256, 'HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy'])
  delete process.env[name];

const prlimitPath = ['/usr/bin/prlimit', '/bin/prlimit'].find((path) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
});

const server = createSandboxAgent({
  tokenSha256: env[ENV_AGENT_TOKEN_SHA256],
  uid: UID,
  ...(env[ENV_AGENT_IDLE_SECONDS] !== undefined ? { idleSeconds: env[ENV_AGENT_IDLE_SECONDS] } : {}),
  ...(env[ENV_AGENT_MAX_SECONDS] !== undefined ? { maxSeconds: env[ENV_AGENT_MAX_SECONDS] } : {}),
  ...(proxyUrl !== undefined ? { proxyUrl } : {}),
  ...(prlimitPath !== undefined ? { prlimitPath } : {}),
  log: line,
});

// ECS stops a task with SIGTERM: the sandbox's commands go first.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    line({ event: 'exit', reason: signal });
    void killProcessesOf(UID)
      .catch(() => undefined)
      .finally(() => process.exit(0));
  });
}

server.listen(AGENT_PORT, '0.0.0.0', () => {
  line({ event: 'listening', port: AGENT_PORT, prlimit: prlimitPath !== undefined, proxy: proxyUrl !== undefined });
});
