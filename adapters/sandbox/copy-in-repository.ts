import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SandboxSpec } from '../../core/definitions/sandbox.ts';
import { errorMessage, SandboxUnavailableError, TransientError } from '../../core/errors.ts';
import { checkEgress, normalizeHost, parseEgressAllowlist } from '../../core/sandbox/egress-allowlist.ts';
import type { InitRequest } from './protocol.ts';

/**
 * `copy_in.repository` on AWS: a folder of the org repository arrives as an archive the
 * deploy put in S3 (one object per agent); a URL is cloned by the sandbox itself, through
 * its egress proxy.
 */

/** The deployed archives: their bucket, and each agent's object key. */
export interface RepositoryArchives {
  reposBucket?: string;
  repos?: Record<string, string>;
}

/** Refuses, before any task starts, a repository the sandbox could not get. */
export function checkRepository(archives: RepositoryArchives, agent: string, spec: SandboxSpec): void {
  const repository = spec.copy_in.repository;
  if (!repository) return;
  if (repository.path !== undefined) {
    if (!archives.reposBucket || !archives.repos?.[agent]) {
      throw new SandboxUnavailableError(
        `copy_in.repository.path ${repository.path} of agent ${agent} has no archive deployed (LOOPRAIL_SANDBOX_REPOS_BUCKET / LOOPRAIL_SANDBOX_REPOS name none for ${agent}): deploy the stack again`,
      );
    }
    return;
  }
  const url = new URL(repository.url!);
  if (url.protocol !== 'https:')
    throw new SandboxUnavailableError(
      `copy_in.repository.url ${repository.url} cannot be cloned on AWS (only https:// is); use copy_in.repository.path for a folder of the org repository`,
    );
  if (spec.network === 'none') {
    throw new SandboxUnavailableError(
      `copy_in.repository.url needs the sandbox to reach ${url.host}, but its network is none: allow the host (sandbox.network: { allow: [${url.hostname}] })`,
    );
  }
  // The egress proxy's own matcher: the clone is allowed exactly when the proxy will let it through.
  const compiled = parseEgressAllowlist(spec.network.allow);
  const host = normalizeHost(url.hostname);
  if (
    !('allowlist' in compiled) ||
    host === undefined ||
    !checkEgress(compiled.allowlist, host, Number(url.port || 443)).allowed
  ) {
    throw new SandboxUnavailableError(
      `copy_in.repository.url needs the sandbox to reach ${url.host}, which its network allowlist (${spec.network.allow.join(', ')}) does not include: allow the host`,
    );
  }
}

/** The init request's `repository`: the URL to clone, or the archive read from S3 (checked by checkRepository). */
export async function repositoryForInit(
  archives: RepositoryArchives,
  s3: () => S3Client,
  agent: string,
  spec: SandboxSpec,
): Promise<Pick<InitRequest, 'repository'>> {
  const repository = spec.copy_in.repository;
  if (!repository) return {};
  if (repository.url !== undefined) return { repository: { url: repository.url, ref: repository.ref } };
  const bucket = archives.reposBucket!;
  const key = archives.repos![agent]!;
  const client = s3();
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = await object.Body!.transformToByteArray();
    if (bytes.length === 0)
      throw new SandboxUnavailableError(`the repository archive of agent ${agent} (s3://${bucket}/${key}) is empty`);
    return { repository: { archive: Buffer.from(bytes).toString('base64') } };
  } catch (error) {
    if (error instanceof SandboxUnavailableError) throw error;
    const name = (error as { name?: string }).name ?? 'Error';
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const detail = `${name}: ${errorMessage(error)}`;
    if (name === 'NoSuchKey' || name === 'NoSuchBucket')
      throw new SandboxUnavailableError(
        `the repository archive of agent ${agent} (s3://${bucket}/${key}) is not there (${name}): deploy the stack again`,
      );
    if (status === undefined || status >= 500 || name === 'SlowDown')
      throw new TransientError(
        `reading the repository archive of agent ${agent} (s3://${bucket}/${key}) failed, worth retrying: ${detail}`,
      );
    throw new SandboxUnavailableError(
      `the repository archive of agent ${agent} (s3://${bucket}/${key}) could not be read: ${detail}`,
    );
  }
}
