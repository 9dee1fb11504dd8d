import { createHash, createHmac, type Hash, type Hmac, timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SourceData } from '@smithy/types';
import type { BoxSession } from './iam.ts';
import type { AuthFailure, GatewayRequest } from './services/wire.ts';

/**
 * SigV4 as AWS checks it: the gateway recomputes the signature of each request with the secret
 * the box minted for its access key (@smithy/signature-v4, the SDK's own signer, fed only the
 * headers the caller says it signed) and refuses any request whose signature differs.
 */

export interface ParsedAuthorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;

export function parseAuthorization(header: string | undefined): ParsedAuthorization | undefined {
  const match = header ? AUTHORIZATION.exec(header.trim()) : null;
  if (!match) return undefined;
  return {
    accessKeyId: match[1]!,
    date: match[2]!,
    region: match[3]!,
    service: match[4]!,
    signedHeaders: match[5]!.split(';'),
    signature: match[6]!,
  };
}

/** undefined when the signature holds; otherwise why not. */
export async function verifySignature(
  request: GatewayRequest,
  auth: ParsedAuthorization,
  session: BoxSession | undefined,
): Promise<{ failure: AuthFailure; detail: string } | undefined> {
  if (!session) return { failure: 'unknown-key', detail: '' };
  const token = request.headers['x-amz-security-token'];
  if ((session.sessionToken ?? undefined) !== (typeof token === 'string' ? token : undefined)) {
    return { failure: 'bad-token', detail: '' };
  }
  const amzDate = String(request.headers['x-amz-date'] ?? '');
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate) return { failure: 'bad-signature', detail: ' (no valid X-Amz-Date header)' };
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const value = request.headers[name];
    if (value === undefined) return { failure: 'bad-signature', detail: ` (signed header ${name} is absent)` };
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: session.accessKeyId,
      secretAccessKey: session.secretAccessKey,
      ...(session.sessionToken ? { sessionToken: session.sessionToken } : {}),
    },
    region: auth.region,
    service: auth.service,
    sha256: NodeSha256,
    // S3 signs the path as sent; every other service escapes it once more.
    uriEscapePath: auth.service !== 's3',
    applyChecksum: auth.service === 's3',
  });
  const [host, port] = String(request.headers.host ?? '').split(':');
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: host ?? '',
      ...(port ? { port: Number(port) } : {}),
      path: request.path,
      query: queryRecord(request.query),
      headers,
      body: request.body,
    },
    { signingDate, signableHeaders: new Set(auth.signedHeaders) },
  );
  const expected = parseAuthorization(String(signed.headers.authorization ?? signed.headers.Authorization ?? ''));
  if (!expected) return { failure: 'bad-signature', detail: ' (the box could not recompute it)' };
  const same =
    expected.signedHeaders.join(';') === auth.signedHeaders.join(';') &&
    timingSafeEqual(Buffer.from(expected.signature, 'hex'), Buffer.from(auth.signature, 'hex'));
  return same ? undefined : { failure: 'bad-signature', detail: '' };
}

function parseAmzDate(value: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match;
  return new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
}

function queryRecord(query: URLSearchParams): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  for (const key of new Set(query.keys())) {
    const values = query.getAll(key);
    record[key] = values.length === 1 ? values[0]! : values;
  }
  return record;
}

function bytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string' || data instanceof Uint8Array) return data;
  return ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}

/** The signer's hash: SHA-256, or HMAC-SHA256 when given a key. */
class NodeSha256 {
  readonly #hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
  reset(): void {}
}

/** A fetch signed with SigV4 as the SDK signs (for callers without an SDK client: Scheduler, the HTTP API). */
export async function signedFetch(
  url: string,
  init: {
    method?: string;
    service: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    headers?: Record<string, string>;
    body?: string;
  },
): Promise<Response> {
  const target = new URL(url);
  const signer = new SignatureV4({
    credentials: init.credentials,
    region: init.region,
    service: init.service,
    sha256: NodeSha256,
  });
  const query: Record<string, string> = Object.fromEntries(target.searchParams);
  const signed = await signer.sign({
    method: init.method ?? 'GET',
    protocol: target.protocol,
    hostname: target.hostname,
    port: Number(target.port),
    path: target.pathname,
    query,
    headers: { host: target.host, ...init.headers },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const { host: _, ...headers } = signed.headers;
  return fetch(url, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: init.body } : {}) });
}
