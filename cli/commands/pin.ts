import { projectRootOf } from '../../adapters/catalog/project-root.ts';
import { join } from 'node:path';
import { McpToolGateway } from '../../adapters/mcp/mcp-gateway.ts';
import { writePins } from '../../adapters/catalog/pin-writer.ts';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import { toolPin } from '../../core/policy/tool-pins.ts';
import { loadCatalog } from '../local/host.ts';

/**
 * `looprail pin`: asks each declared server for its tools and records, in the server's
 * declaration, a hash of what the org reviewed. A tool that changes later is disabled
 * until someone reviews it and pins again.
 */
export async function pinServers(options: {
  orgDir: string;
  stateDir: string;
  servers: string[];
  log: (line: string) => void;
}): Promise<boolean> {
  const catalog = await loadCatalog(options.orgDir);
  // looprail's own servers (the sandbox) are part of looprail: there is nothing of theirs to review.
  const names =
    options.servers.length > 0
      ? options.servers
      : Object.keys(catalog.servers)
          .filter((name) => catalog.servers[name]!.transport.type !== 'builtin')
          .sort();
  const gateway = new McpToolGateway({
    secrets: new LocalSecretStore({ file: join(options.stateDir, 'secrets.json'), env: process.env }),
    projectRoot: projectRootOf(options.orgDir),
    stateDir: options.stateDir,
  });
  let ok = true;
  try {
    for (const name of names) {
      const server = catalog.servers[name];
      if (!server) {
        options.log(`✗ ${name}: no such server in ${options.orgDir}/mcp-servers/`);
        ok = false;
        continue;
      }
      if (server.transport.type === 'builtin') {
        options.log(`✓ ${name}: served by looprail itself; nothing to pin`);
        continue;
      }
      const offered = await gateway.listTools(server);
      const pins = Object.fromEntries(
        offered.filter((tool) => tool.name in server.tools).map((tool) => [tool.name, toolPin(tool)]),
      );
      const changed = await writePins(join(options.orgDir, 'mcp-servers', `${name}.yaml`), pins);
      const missing = Object.keys(server.tools).filter((tool) => !(tool in pins));
      const undeclared = offered.map((tool) => tool.name).filter((tool) => !(tool in server.tools));
      options.log(
        `✓ ${name}: ${Object.keys(pins).length} tools pinned${changed.length > 0 ? ` (${changed.length} updated: ${changed.join(', ')})` : ''}`,
      );
      if (missing.length > 0) options.log(`  declared but not offered by the server: ${missing.join(', ')}`);
      if (undeclared.length > 0)
        options.log(`  offered but not declared (denied to every agent): ${undeclared.join(', ')}`);
    }
  } finally {
    await gateway.close();
  }
  return ok;
}
