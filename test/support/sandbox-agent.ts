import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { chmod, copyFile, link, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killProcessesOf } from '../../containers/sandbox-agent/launcher.ts';
import { createSandboxAgent } from '../../containers/sandbox-agent/server.ts';
import { ENV_AGENT_TOKEN_SHA256 } from '../../adapters/sandbox/aws-contract.ts';
import type { FakeTaskStart, StartedTask } from './fake-ecs.ts';

/**
 * What a fake ECS task runs: the real sandbox agent (containers/sandbox-agent/server.ts) on
 * 127.0.0.1 and a port of its own, set up from the environment RunTask gave the task's
 * workspace container as its entry point (agent/main.ts) reads it: the token's digest,
 * and the egress proxy for an allowlist. Each task gets a workspace in a temp folder and a
 * uid no one on this host uses (the agent kills every process of its uid after each
 * command), and the agent runs as root to drop to it, as in its container.
 */

/** The agent drops to its sandbox uid: only root can. Tests that need it skip otherwise. */
export const canRunSandboxAgent = process.getuid?.() === 0;

let reachable: Promise<string> | undefined;

/**
 * This Node where the sandbox's own uid can run it: in the container that is the image's node;
 * here the project's may sit under a private (0700) home, so scripts get a link to it in a
 * world-readable temporary folder (a copy across file systems).
 */
export function reachableNode(): Promise<string> {
  reachable ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'looprail-node-'));
    await chmod(dir, 0o755);
    const node = join(dir, 'node');
    await link(process.execPath, node).catch(() => copyFile(process.execPath, node));
    return node;
  })();
  return reachable;
}

/** Where the agent listens: 127.0.0.1 on a free port (default), or a fixed address and port as a task's ENI gives it. */
export interface AgentListen {
  address: string;
  port: number;
}

export async function startAgentTask(
  task: FakeTaskStart,
  listen: AgentListen = { address: '127.0.0.1', port: 0 },
): Promise<StartedTask> {
  const dir = await mkdtemp(join(tmpdir(), 'looprail-fake-task-'));
  await chmod(dir, 0o711);
  const uid = 500_000 + randomInt(100_000);
  const proxyUrl = task.env.HTTPS_PROXY ?? task.env.https_proxy ?? task.env.HTTP_PROXY ?? task.env.http_proxy;
  const server = createSandboxAgent({
    tokenSha256: task.env[ENV_AGENT_TOKEN_SHA256] ?? '',
    workspace: join(dir, 'workspace'),
    home: join(dir, 'home'),
    tmp: join(dir, 'tmp'),
    uid,
    prlimitPath: '/usr/bin/prlimit',
    nodePath: await reachableNode(),
    ...(proxyUrl !== undefined ? { proxyUrl } : {}),
    // A stopped task's agent is closed by the fake; it never exits the test's process.
    exit: () => undefined,
  });
  server.listen(listen.port, listen.address);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    address: listen.address,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await killProcessesOf(uid).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
