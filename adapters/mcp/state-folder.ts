import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';

/**
 * An MCP host's state folder (`${LOOPRAIL_STATE_DIR}` in its declaration) kept in S3: a
 * Lambda's /tmp lives only as long as its container, so the folder is restored from the
 * bucket on a cold start and saved after every call that may have written. Only files that
 * changed since the last restore or save are sent. One container at a time per stateful
 * host (reserved concurrency 1), so last writer wins never loses another's write.
 */

export interface StateFolderOptions {
  client: S3Client;
  bucket: string;
  /** Object key prefix of this server's files, ending in `/`. */
  prefix: string;
  /** The local folder (under /tmp on Lambda). */
  dir: string;
}

export class S3StateFolder {
  readonly #options: StateFolderOptions;
  /** Content hash of each file as the bucket holds it, by path relative to the folder (`/` separated). */
  readonly #saved = new Map<string, string>();

  constructor(options: StateFolderOptions) {
    this.#options = options;
  }

  /** Downloads every object under the prefix into the folder. */
  async restore(): Promise<number> {
    const { client, bucket, prefix, dir } = this.#options;
    await mkdir(dir, { recursive: true });
    let token: string | undefined;
    let count = 0;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        const name = object.Key?.slice(prefix.length);
        if (!name || name.split('/').some((part) => part === '..' || part === '')) continue;
        const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
        const bytes = Buffer.from((await got.Body?.transformToByteArray()) ?? []);
        const file = join(dir, ...name.split('/'));
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, bytes);
        this.#saved.set(name, hash(bytes));
        count++;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return count;
  }

  /** Uploads the files that changed and deletes the objects of files that are gone; returns what it sent. */
  async save(): Promise<{ put: number; deleted: number }> {
    const { client, bucket, prefix, dir } = this.#options;
    const present = new Map<string, Buffer>();
    for (const file of await filesUnder(dir))
      present.set(relative(dir, file).split(sep).join('/'), await readFile(file));
    let put = 0;
    let deleted = 0;
    for (const [name, bytes] of present) {
      const digest = hash(bytes);
      if (this.#saved.get(name) === digest) continue;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: prefix + name, Body: bytes }));
      this.#saved.set(name, digest);
      put++;
    }
    for (const name of [...this.#saved.keys()].filter((each) => !present.has(each))) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: prefix + name }));
      this.#saved.delete(name);
      deleted++;
    }
    return { put, deleted };
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

function hash(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
