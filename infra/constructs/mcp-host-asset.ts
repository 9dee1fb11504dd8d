import { buildSync } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assetPathOf, insideProject, type HostedProgram } from '../../adapters/mcp/stdio-program.ts';
import { NODE22_ESM_BUNDLE } from './handler-function.ts';

/** A file or folder to copy into an MCP host's asset: `to` is relative to the asset's root. */
export interface StagedFile {
  readonly from: string;
  readonly to: string;
}

export interface StagedHost {
  /** The server's arguments, project paths pointing into the asset. */
  readonly args: string[];
  readonly cwd?: string;
  /** The server bundle (when bundling) and the project files its arguments name. */
  readonly files: StagedFile[];
}

/** The bundled server's file in each host's asset. */
export const SERVER_BUNDLE = 'server.mjs';

/**
 * What an MCP host's asset holds beside its handler: the server's program bundled into one
 * ES module by the local esbuild (into the temp folder, named by content hash, so repeated
 * synths reuse it), and every argument that names a file or folder of the project, copied
 * under `data/` and rewritten to that path (the host starts the server in its asset's root).
 */
export function stageHostAsset(
  projectRoot: string,
  program: HostedProgram,
  cwd: string | undefined,
  bundle: boolean,
): StagedHost {
  const files: StagedFile[] = bundle ? [{ from: bundleServer(program.entry), to: SERVER_BUNDLE }] : [];
  const pointInto = (path: string): string => {
    const source = insideProject(projectRoot, path);
    if (source === undefined) return path;
    const to = assetPathOf(projectRoot, source);
    if (!files.some((file) => file.to === to)) files.push({ from: source, to });
    return to;
  };
  const args = program.args.map(pointInto);
  return { args, ...(cwd !== undefined ? { cwd: pointInto(cwd) } : {}), files };
}

function bundleServer(entry: string): string {
  let result: ReturnType<typeof buildSync>;
  try {
    result = buildSync({
      ...NODE22_ESM_BUNDLE,
      mainFields: [...NODE22_ESM_BUNDLE.mainFields],
      entryPoints: [entry],
      write: false,
      outfile: SERVER_BUNDLE,
      logLevel: 'silent',
    });
  } catch (error) {
    throw new Error(`bundling the MCP server ${entry} failed: ${(error as Error).message}`);
  }
  const code = (result.outputFiles ?? []).find((file) => file.path.endsWith(SERVER_BUNDLE))!.contents;
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  const directory = join(tmpdir(), `looprail-mcp-server-${hash}`);
  if (!existsSync(join(directory, SERVER_BUNDLE))) {
    // Written beside and renamed into place: parallel synths never see a half-written bundle.
    const scratch = mkdtempSync(join(tmpdir(), 'looprail-mcp-server-staging-'));
    writeFileSync(join(scratch, SERVER_BUNDLE), code);
    mkdirSync(directory, { recursive: true });
    try {
      renameSync(join(scratch, SERVER_BUNDLE), join(directory, SERVER_BUNDLE));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return join(directory, SERVER_BUNDLE);
}
