import { createHash, randomUUID } from 'node:crypto';
import {
  type BoxService,
  type CallContext,
  type GatewayRequest,
  ServiceError,
  type ServiceResponse,
  xml,
} from './wire.ts';

/**
 * S3 (REST-XML, path-style `/<bucket>/<key>`): GetObject, HeadObject, PutObject, DeleteObject
 * authorized on `arn:aws:s3:::<bucket>/<key>`, ListObjectsV2 as s3:ListBucket on the bucket
 * (with `s3:prefix`), over an in-memory store the box fills (the template's buckets).
 */

export interface S3Object {
  body: Buffer;
  contentType: string;
  etag: string;
  lastModified: Date;
}

export interface S3Store {
  readonly buckets: Set<string>;
  /** `<bucket>/<key>` → object. */
  readonly objects: Map<string, S3Object>;
  put(bucket: string, key: string, body: Buffer | string, contentType?: string): void;
}

export function createS3Store(buckets: string[]): S3Store {
  const objects = new Map<string, S3Object>();
  return {
    buckets: new Set(buckets),
    objects,
    put(bucket, key, body, contentType = 'application/octet-stream') {
      const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
      const etag = `"${createHash('md5').update(bytes).digest('hex')}"`;
      objects.set(`${bucket}/${key}`, { body: bytes, contentType, etag, lastModified: new Date() });
    },
  };
}

const OBJECT_ACTIONS: Record<string, [string, string]> = {
  GET: ['GetObject', 's3:GetObject'],
  HEAD: ['HeadObject', 's3:GetObject'],
  PUT: ['PutObject', 's3:PutObject'],
  DELETE: ['DeleteObject', 's3:DeleteObject'],
};

function split(request: GatewayRequest): { bucket: string; key: string } {
  const [bucket, ...rest] = request.path.slice(1).split('/');
  return { bucket: decodeURIComponent(bucket ?? ''), key: rest.map(decodeURIComponent).join('/') };
}

export function s3Service(store: S3Store | undefined): BoxService {
  return {
    name: 's3',
    signingName: 's3',
    protocol: 'restXml',
    operation(request) {
      const { bucket, key } = split(request);
      if (!bucket) return undefined;
      if (!key) return request.method === 'GET' && request.query.get('list-type') === '2' ? 'ListObjectsV2' : undefined;
      return OBJECT_ACTIONS[request.method]?.[0];
    },
    async handle(operation: string, call: CallContext): Promise<ServiceResponse> {
      if (!store) throw new ServiceError('NotImplemented', 'the box has no S3 store', 501);
      const { bucket, key } = split(call.request);
      const bucketArn = `arn:${call.account.partition}:s3:::${bucket}`;
      if (operation === 'ListObjectsV2') {
        const prefix = call.request.query.get('prefix') ?? '';
        await call.authorize('s3:ListBucket', [bucketArn], { 's3:prefix': prefix });
        if (!store.buckets.has(bucket)) throw noSuchBucket();
        return list(store, bucket, prefix);
      }
      await call.authorize(OBJECT_ACTIONS[call.request.method]![1], [`${bucketArn}/${key}`]);
      if (!store.buckets.has(bucket)) throw noSuchBucket();
      const id = `${bucket}/${key}`;
      if (operation === 'PutObject') {
        store.put(
          bucket,
          key,
          payload(call.request),
          String(call.request.headers['content-type'] ?? 'application/octet-stream'),
        );
        return { status: 200, headers: { etag: store.objects.get(id)!.etag } };
      }
      if (operation === 'DeleteObject') {
        store.objects.delete(id);
        return { status: 204 };
      }
      const object = store.objects.get(id);
      if (!object) throw new ServiceError('NoSuchKey', 'The specified key does not exist.', 404);
      return {
        status: 200,
        headers: {
          'content-type': object.contentType,
          'content-length': String(object.body.length),
          etag: object.etag,
          'last-modified': object.lastModified.toUTCString(),
        },
        ...(operation === 'GetObject' ? { body: object.body } : {}),
      };
    },
  };
}

function noSuchBucket(): ServiceError {
  return new ServiceError('NoSuchBucket', 'The specified bucket does not exist', 404);
}

function list(store: S3Store, bucket: string, prefix: string): ServiceResponse {
  const contents = [...store.objects]
    .filter(([id]) => id.startsWith(`${bucket}/${prefix}`))
    .map(([id, object]) => ({ key: id.slice(bucket.length + 1), object }))
    .sort((a, b) => a.key.localeCompare(b.key));
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Name>${xml(bucket)}</Name><Prefix>${xml(prefix)}</Prefix><KeyCount>${contents.length}</KeyCount>` +
    '<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>' +
    contents
      .map(
        ({ key, object }) =>
          `<Contents><Key>${xml(key)}</Key><LastModified>${object.lastModified.toISOString()}</LastModified>` +
          `<ETag>${xml(object.etag)}</ETag><Size>${object.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      )
      .join('') +
    '</ListBucketResult>';
  return { status: 200, headers: { 'content-type': 'application/xml', 'x-amz-request-id': randomUUID() }, body };
}

/** The object's bytes: the body as sent, or decoded from aws-chunked (the SDK's streaming upload with trailing checksum). */
function payload(request: GatewayRequest): Buffer {
  const encoding = String(request.headers['content-encoding'] ?? '');
  const hash = String(request.headers['x-amz-content-sha256'] ?? '');
  if (!encoding.includes('aws-chunked') && !hash.startsWith('STREAMING-')) return request.body;
  const parts: Buffer[] = [];
  let at = 0;
  while (at < request.body.length) {
    const lineEnd = request.body.indexOf('\r\n', at);
    const size = Number.parseInt(request.body.subarray(at, lineEnd).toString('latin1').split(';')[0]!, 16);
    if (!size) break;
    parts.push(request.body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
