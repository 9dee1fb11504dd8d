import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpToolGateway } from '../../adapters/mcp/mcp-gateway.ts';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import { McpServerDeclaration } from '../../core/definitions/org.ts';
import { ConfigurationError } from '../../core/errors.ts';

/**
 * A server that wants credentials the declaration does not give is a permanent mistake, like a
 * command that does not exist: a configuration error naming the fix, never an outage retried.
 */

let server: Server;
let url: string;
let requests = 0;

beforeAll(async () => {
  server = createServer((_req, res) => {
    requests++;
    res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('missing token');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('an HTTP MCP server that asks for credentials none are declared for', () => {
  it('is a configuration error that says to declare auth, after one request', async () => {
    const gateway = new McpToolGateway({ secrets: new LocalSecretStore({ env: {} }), projectRoot: process.cwd() });
    const open = McpServerDeclaration.parse({ name: 'open', transport: { type: 'http', url }, tools: {} });
    try {
      const error = await gateway.listTools(open).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toBe(
        'MCP server "open" asks for credentials (HTTP 401) and none are declared: add auth: { secret: <name> } to mcp-servers/open.yaml (the secret\'s name in secrets.yaml, its value in the secret store)',
      );
      expect(requests).toBe(1);
    } finally {
      await gateway.close();
    }
  });
});
