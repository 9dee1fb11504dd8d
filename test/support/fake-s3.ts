import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for S3 on 127.0.0.1 (path-style: `/<bucket>/<key>`) for the real SDK client
 * (`forcePathStyle: true`): GetObject from a map, NoSuchKey / NoSuchBucket as S3's XML
 * errors otherwise; with `writable`, also PutObject, DeleteObject and ListObjectsV2 (what an
 * MCP host's state folder uses), on the buckets named there even while they are empty.
 */

export interface FakeS3 {
  readonly url: string;
  /** `<bucket>/<key>` → bytes. */
  readonly objects: Map<string, Buffer>;
  readonly gets: string[];
  /** Every write, as `PUT <bucket>/<key>` or `DELETE <bucket>/<key>`. */
  readonly writes: string[];
  close(): Promise<void>;
}

export async function startFakeS3(
  objects: Map<string, Buffer> = new Map(),
  options: { writable?: string[] } = {},
): Promise<FakeS3> {
  const gets: string[] = [];
  const writes: string[] = [];
  const writable = new Set(options.writable ?? []);
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const [bucket, ...rest] = url.pathname.slice(1).split('/');
    const key = rest.map(decodeURIComponent).join('/');
    const error = (status: number, code: string, message: string) =>
      res
        .writeHead(status, { 'content-type': 'application/xml' })
        .end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fake</RequestId></Error>`,
        );
    if (writable.has(bucket!)) {
      const name = `${bucket}/${key}`;
      if (req.method === 'PUT') {
        objects.set(name, unchunked(Buffer.concat(chunks), req.headers['content-encoding']));
        writes.push(`PUT ${name}`);
        return res.writeHead(200, { etag: `"${createHash('md5').update(objects.get(name)!).digest('hex')}"` }).end();
      }
      if (req.method === 'DELETE') {
        objects.delete(name);
        writes.push(`DELETE ${name}`);
        return res.writeHead(204).end();
      }
      if (req.method === 'GET' && key === '' && url.searchParams.get('list-type') === '2') {
        return res
          .writeHead(200, { 'content-type': 'application/xml' })
          .end(listing(bucket!, url.searchParams.get('prefix') ?? '', objects));
      }
    }
    if (req.method !== 'GET') return error(405, 'MethodNotAllowed', 'only GetObject here');
    gets.push(`${bucket}/${key}`);
    if (!writable.has(bucket!) && ![...objects.keys()].some((name) => name.startsWith(`${bucket}/`)))
      return error(404, 'NoSuchBucket', 'The specified bucket does not exist');
    const body = objects.get(`${bucket}/${key}`);
    if (!body) return error(404, 'NoSuchKey', 'The specified key does not exist.');
    res
      .writeHead(200, {
        'content-type': 'application/gzip',
        'content-length': String(body.length),
        etag: `"${createHash('md5').update(body).digest('hex')}"`,
        'last-modified': new Date().toUTCString(),
      })
      .end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    objects,
    gets,
    writes,
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** ListObjectsV2's answer: every key under the prefix, in one page. */
function listing(bucket: string, prefix: string, objects: Map<string, Buffer>): string {
  const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const keys = [...objects.keys()]
    .filter((name) => name.startsWith(`${bucket}/${prefix}`))
    .map((name) => name.slice(bucket.length + 1))
    .sort();
  const contents = keys
    .map(
      (key) =>
        `<Contents><Key>${xml(key)}</Key><Size>${objects.get(`${bucket}/${key}`)!.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
    )
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xml(bucket)}</Name><Prefix>${xml(prefix)}</Prefix><KeyCount>${keys.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`;
}

/** A body the SDK sent `aws-chunked` (size;…\r\n data \r\n … 0 and trailers), as its plain bytes. */
function unchunked(body: Buffer, encoding: string | undefined): Buffer {
  if (!encoding?.includes('aws-chunked')) return body;
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at);
    const size = Number.parseInt(body.subarray(at, lineEnd).toString('latin1').split(';')[0]!, 16);
    if (!size) return Buffer.concat(parts);
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
