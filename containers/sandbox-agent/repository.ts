import { SandboxUnavailableError } from '../../core/errors.ts';
import type { WorkspaceSandbox } from '../../adapters/sandbox/workspace.ts';
import { badRequest } from './http.ts';

/** Setting up the workspace's repository: an archive from the broker, or a clone. */

const MB = 1024 * 1024;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The archive, unpacked by the sandbox's user, once tar has listed nothing outside the workspace. */
export async function extract(sandbox: WorkspaceSandbox, archive: string): Promise<void> {
  const compact = archive.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !BASE64.test(compact))
    throw badRequest('invalid request body: repository.archive: expected a base64 .tar.gz');
  const bytes = Buffer.from(compact, 'base64');
  const listing = await sandbox.run('tar -tzf -', [], {
    timeoutMs: 300_000,
    maxBytes: 64 * MB,
    separate: true,
    stdin: bytes,
  });
  if (listing.exitCode !== 0)
    throw badRequest(
      `repository.archive is not a readable .tar.gz: ${listing.err.toString('utf8').trim().slice(0, 300) || `tar exited with ${listing.exitCode ?? 'a kill'}`}`,
    );
  for (const name of listing.out.toString('utf8').split('\n')) {
    if (name === '') continue;
    if (name.startsWith('/') || name.split('/').includes('..'))
      throw badRequest(`repository.archive has an entry outside the workspace: ${name.slice(0, 200)}`);
  }
  const unpacked = await sandbox.run('tar -xzf - --no-same-owner', [], {
    timeoutMs: 300_000,
    maxBytes: 4096,
    separate: true,
    stdin: bytes,
  });
  if (unpacked.exitCode !== 0)
    throw new SandboxUnavailableError(
      `the repository archive could not be unpacked: ${unpacked.err.toString('utf8').trim().slice(0, 300)}`,
    );
}

/** A clone by the sandbox's user, over https only (through the egress proxy when there is one). */
export async function clone(sandbox: WorkspaceSandbox, url: string, ref: string): Promise<void> {
  if (!url.startsWith('https://')) throw badRequest('invalid request body: repository.url: expected an https:// URL');
  const cloned = await sandbox.run(
    'git -c protocol.allow=never -c protocol.https.allow=always clone --quiet -- "$1" . && if [ "$2" != HEAD ]; then git checkout --quiet --detach "$2"; fi',
    [url, ref],
    {
      timeoutMs: 600_000,
      maxBytes: 4096,
      separate: true,
    },
  );
  if (cloned.exitCode !== 0) {
    const why = cloned.timedOut ? 'it took longer than 600 s' : cloned.err.toString('utf8').trim().slice(0, 300);
    throw new SandboxUnavailableError(`the repository ${url} (ref ${ref}) could not be cloned: ${why}`);
  }
}
