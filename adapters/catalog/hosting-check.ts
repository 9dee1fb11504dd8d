import { readdirSync, statSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { identitiesOf } from '../../core/definitions/identity.ts';
import type { OrgFile } from '../../core/definitions/org-validation.ts';
import { closest, type Problem } from '../../core/definitions/problems.ts';
import { parseYaml } from '../../core/definitions/yaml-source.ts';
import { resolveStdioProgram } from '../mcp/stdio-program.ts';

/**
 * Every stdio server must be something the stack can host in a Lambda (adapters/mcp/stdio-program.ts):
 * validate and synth refuse any other command at its line, naming who uses it and what to do, so a
 * misspelled command fails here instead of as a run that cannot start its tools.
 */
export function hostingProblems(catalog: Catalog, files: OrgFile[], projectRoot: string): Problem[] {
  const problems: Problem[] = [];
  const identities = identitiesOf(catalog);
  for (const server of Object.values(catalog.servers)) {
    if (server.transport.type !== 'stdio') continue;
    const file = files.find(
      (each) => /^mcp-servers\/[^/]+\.ya?ml$/i.test(each.path) && stem(each.path) === server.name,
    );
    const at = (field: 'command' | 'cwd') => ({
      ...(file ? locate(file, field) : { file: `mcp-servers/${server.name}.yaml`, line: 1, col: 1 }),
      path: `transport.${field}`,
      severity: 'error' as const,
    });
    const cwd = server.transport.cwd;
    // A folder that is not there fails the server's start with the same ENOENT as a missing program.
    if (cwd !== undefined && !cwd.includes('${') && !isFolder(resolve(projectRoot, cwd)))
      problems.push({
        ...at('cwd'),
        message: `server "${server.name}" starts in "${cwd}", which is not a folder (relative to the project, ${projectRoot}): fix the path or leave cwd out`,
      });
    const resolution = resolveStdioProgram(projectRoot, server.transport);
    if (resolution.ok) continue;
    const near = nearestBin(projectRoot, server.transport.command);
    const users = identities.filter((identity) => identity.servers.includes(server.name)).map((each) => each.name);
    problems.push({
      ...at('command'),
      message:
        (near ? `"${server.transport.command}" is not installed: did you mean "${near}"? ` : '') +
        `server "${server.name}" cannot run on AWS: ${resolution.reason}, and each stdio server is bundled into its ` +
        `own Lambda from an installed Node package (node_modules/.bin) or a .js/.mjs file of the project; ` +
        `${users.length > 0 ? `used by ${users.map((name) => `agent ${name}`).join(', ')}` : 'no agent uses it yet'}. ` +
        'Install the npm package that provides it (npm install <package>, then name its bin), ' +
        'or declare the server as `transport: { type: http, url }`',
    });
  }
  return problems;
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The installed bin a misspelled command most likely meant, if one is a few typos away. */
function nearestBin(projectRoot: string, command: string): string | undefined {
  if (command.includes('/') || command.includes('${')) return undefined;
  try {
    const near = closest(command, readdirSync(join(projectRoot, 'node_modules', '.bin')));
    return near === command ? undefined : near;
  } catch {
    return undefined;
  }
}

function stem(path: string): string {
  return posix.basename(path).replace(/\.ya?ml$/i, '');
}

/** Where `transport.<field>` is in the server's file (it parsed already, or the catalog would not exist). */
function locate(file: OrgFile, field: 'command' | 'cwd'): { file: string; line: number; col: number } {
  const parsed = parseYaml({ file: file.display, text: file.text }, 'an MCP server declaration');
  if (!parsed.ok) return { file: file.display, line: 1, col: 1 };
  return { file: file.display, ...parsed.parsed.locate(['transport', field]) };
}
