import { Aws } from 'aws-cdk-lib';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import type { Catalog } from '../../../core/definitions/catalog.ts';
import { stageFolderArchive } from '../../sandbox-image/repo-archive.ts';
import { sandboxAgents } from './catalog.ts';

/**
 * `copy_in.repository.path` folders, packed at synth (infra/sandbox-image/repo-archive.ts)
 * into one .tar.gz per agent and uploaded as assets. The broker reads exactly these
 * objects.
 */
export class SandboxRepositories extends Construct {
  /** `{ agent: object key }`, as LOOPRAIL_SANDBOX_REPOS. */
  readonly keys: Record<string, string> = {};
  readonly assets = new Map<string, Asset>();

  constructor(scope: Construct, id: string, props: { catalog: Catalog; orgDir?: string }) {
    super(scope, id);
    for (const { name, spec } of sandboxAgents(props.catalog)) {
      const path = spec.copy_in.repository?.path;
      if (path === undefined) continue;
      const folder = repositoryFolder(name, path, props.orgDir);
      const asset = new Asset(this, `Repo-${name.replace(/[^A-Za-z0-9]/g, '')}`, { path: stageFolderArchive(folder) });
      this.assets.set(name, asset);
      this.keys[name] = asset.s3ObjectKey;
    }
  }

  /** The bucket the archives are in (the bootstrap's file assets bucket), when there is any. */
  get bucketName(): string | undefined {
    return [...this.assets.values()][0]?.s3BucketName;
  }

  /** Exactly the archives' object ARNs. */
  get objectArns(): string[] {
    return [...this.assets.values()].map(
      (asset) => `arn:${Aws.PARTITION}:s3:::${asset.s3BucketName}/${asset.s3ObjectKey}`,
    );
  }
}

/** The absolute folder an agent's `copy_in.repository.path` names: a folder inside the org folder, or an error. */
function repositoryFolder(agent: string, path: string, orgDir: string | undefined): string {
  const problem = `agent ${agent}: sandbox copy_in.repository.path ${path}`;
  if (!orgDir) throw new Error(`${problem} needs the org folder (LooprailStack's orgDir)`);
  const root = resolve(orgDir);
  const folder = resolve(root, path);
  const inside = relative(root, folder);
  if (inside.startsWith('..') || isAbsolute(inside)) throw new Error(`${problem} is outside the org folder`);
  if (!statSync(folder, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`${problem} is not a folder in ${root}`);
  }
  return folder;
}
