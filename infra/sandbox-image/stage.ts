import { buildSync } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE22_ESM_BUNDLE, PROJECT_ROOT } from '../constructs/handler-function.ts';

/**
 * The Docker build contexts of looprail's own sandbox images, staged at synth: the
 * Dockerfile from this folder and the program it runs, bundled by the local esbuild into
 * one ES module (the images carry Node and nothing from node_modules).
 */

export type SandboxImageKind = 'init' | 'egress';

interface ImageSource {
  readonly dockerfile: string;
  /** Entry file, relative to the project root. */
  readonly entry: string;
  /** The bundle's name in the build context (the Dockerfile COPYs it). */
  readonly bundle: string;
}

export const SANDBOX_IMAGES: Readonly<Record<SandboxImageKind, ImageSource>> = {
  init: { dockerfile: 'init.Dockerfile', entry: 'containers/sandbox-agent/main.ts', bundle: 'agent.mjs' },
  egress: { dockerfile: 'egress.Dockerfile', entry: 'containers/egress-proxy/main.ts', bundle: 'egress.mjs' },
};

const HERE = fileURLToPath(new URL('./', import.meta.url));

export interface StageOptions {
  /** False (a stack synthesized with `bundle: false`): a placeholder instead of the bundle; such a stack cannot be deployed. */
  readonly bundle: boolean;
  /** Default: the repository root. */
  readonly projectRoot?: string;
}

/**
 * The build context of one image, as a folder named by its content's hash in the temp
 * folder: repeated synths reuse it, and the asset hash changes only when the Dockerfile
 * or the bundled program does.
 */
export function stageSandboxImage(kind: SandboxImageKind, options: StageOptions): string {
  const source = SANDBOX_IMAGES[kind];
  const dockerfile = readFileSync(join(HERE, source.dockerfile), 'utf8');
  const program = options.bundle
    ? bundleProgram(kind, options.projectRoot ?? PROJECT_ROOT)
    : `// Not bundled: this stack was synthesized with bundle: false and cannot be deployed.\nthrow new Error('looprail: ${source.entry} was not bundled');\n`;
  const hash = createHash('sha256').update(dockerfile).update('\0').update(program).digest('hex').slice(0, 16);
  const directory = join(tmpdir(), `looprail-sandbox-${kind}-${hash}`);
  if (existsSync(join(directory, 'Dockerfile'))) return directory;
  // Written beside and renamed into place: parallel synths never see a half-written context.
  const scratch = mkdtempSync(join(tmpdir(), `looprail-sandbox-${kind}-staging-`));
  writeFileSync(join(scratch, source.bundle), program);
  writeFileSync(join(scratch, 'Dockerfile'), dockerfile);
  try {
    renameSync(scratch, directory);
  } catch (error) {
    // Another synth staged the same content first: theirs is identical.
    rmSync(scratch, { recursive: true, force: true });
    if (!existsSync(join(directory, 'Dockerfile'))) throw error;
  }
  return directory;
}

function bundleProgram(kind: SandboxImageKind, projectRoot: string): string {
  const { entry } = SANDBOX_IMAGES[kind];
  const entryPath = join(projectRoot, entry);
  if (!existsSync(entryPath)) throw new Error(`the sandbox ${kind} image needs ${entry}, which does not exist`);
  let result: ReturnType<typeof buildSync>;
  try {
    result = buildSync({
      entryPoints: [entryPath],
      absWorkingDir: projectRoot,
      tsconfig: join(projectRoot, 'tsconfig.json'),
      ...NODE22_ESM_BUNDLE,
      mainFields: [...NODE22_ESM_BUNDLE.mainFields],
      legalComments: 'none',
      write: false,
      logLevel: 'silent',
    });
  } catch (error) {
    throw new Error(`bundling ${entry} for the sandbox ${kind} image failed: ${(error as Error).message}`);
  }
  const output = result.outputFiles?.[0];
  if (!output) throw new Error(`bundling ${entry} for the sandbox ${kind} image produced nothing`);
  return output.text;
}
