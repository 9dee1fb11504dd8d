import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for S3's GetObject on 127.0.0.1 (path-style: `GET /<bucket>/<key>`) for the
 * real SDK client (`forcePathStyle: true`): objects from a map, NoSuchKey / NoSuchBucket
 * as S3's XML errors otherwise.
 */

export interface FakeS3 {
  readonly url: string;
  /** `<bucket>/<key>` → bytes. */
  readonly objects: Map<string, Buffer>;
  readonly gets: string[];
  close(): Promise<void>;
}

export async function startFakeS3(objects: Map<string, Buffer> = new Map()): Promise<FakeS3> {
  const gets: string[] = [];
  const server: Server = createServer(async (req, res) => {
    for await (const _ of req);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const [bucket, ...rest] = url.pathname.slice(1).split('/');
    const key = rest.map(decodeURIComponent).join('/');
    const error = (status: number, code: string, message: string) =>
      res
        .writeHead(status, { 'content-type': 'application/xml' })
        .end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fake</RequestId></Error>`,
        );
    if (req.method !== 'GET') return error(405, 'MethodNotAllowed', 'only GetObject here');
    gets.push(`${bucket}/${key}`);
    if (![...objects.keys()].some((name) => name.startsWith(`${bucket}/`)))
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
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
