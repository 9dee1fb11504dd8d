import { parsePort, stopSignal } from '../process.ts';
import { ValidationError } from '../../core/errors.ts';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { startGatewayServer, type GatewayServer } from '../../adapters/mcp/gateway-server.ts';
import { startLocalHost } from '../local/host.ts';

/**
 * `looprail mcp-gateway <agent>`: serves the agent's view of its tools as one MCP endpoint
 * on 127.0.0.1, so an interactive agent on this machine gets the same grants, flags,
 * guardrails and traces as the deployed loop. Runs until Ctrl-C, which closes every open
 * session (each is a run that then ends `completed`) and the local host.
 */

export interface McpGatewayCommandOptions {
  org: string;
  stateDir: string;
  port: string;
  token?: string;
}

interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

const consoleOutput: Output = { out: (line) => console.log(line), err: (line) => console.error(line) };

export async function mcpGatewayCommand(
  agent: string,
  options: McpGatewayCommandOptions,
  output: Output = consoleOutput,
): Promise<void> {
  const port = parsePort(options.port);
  const token = options.token ?? randomBytes(32).toString('base64url');
  if (token.trim() === '' || /\s/.test(token))
    throw new ValidationError('--token must be a non-empty value without spaces');
  const host = await startLocalHost({ orgDir: options.org, stateDir: options.stateDir });
  let gateway: GatewayServer;
  try {
    gateway = await startGatewayServer({
      deps: host.deps,
      agent,
      principal: `local:${userInfo().username}`,
      port,
      token,
      log: output.err,
    });
  } catch (error) {
    await host.close();
    throw error;
  }
  output.out(banner(agent, gateway.url, token, options.token === undefined));
  const signal = await stopSignal();
  output.err(`\n${signal}: closing the open sessions…`);
  try {
    await gateway.close();
  } finally {
    await host.close();
  }
  output.err(`mcp-gateway stopped; every session is recorded (looprail runs --agent ${agent})`);
}

/** What a person needs to point a client at the gateway, ready to paste. The token is shown only here. */
export function banner(agent: string, url: string, token: string, generated: boolean): string {
  const name = `looprail-${agent}`;
  const config = { mcpServers: { [name]: { type: 'http', url, headers: { Authorization: `Bearer ${token}` } } } };
  return [
    `looprail MCP gateway for agent "${agent}" on ${url}`,
    generated ? `token (random, shown once; it changes on every start): ${token}` : 'token: the one given with --token',
    '',
    'client config (e.g. .mcp.json):',
    JSON.stringify(config, null, 2),
    '',
    'or, for Claude Code:',
    `  claude mcp add --transport http ${name} ${url} --header "Authorization: Bearer ${token}"`,
    '',
    `Each client session is recorded as a run of ${agent} (looprail runs --agent ${agent}; looprail trace <id>). Ctrl-C stops the gateway.`,
  ].join('\n');
}
