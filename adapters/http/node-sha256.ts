import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import type { Checksum, SourceData } from '@smithy/types';

/** The hash SigV4 needs, on Node's crypto (HMAC when given a key). Shared by the SigV4 client and adapters. */
export class NodeSha256 implements Checksum {
  readonly #secret: SourceData | undefined;
  #hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.#secret = secret;
    this.#hash = NodeSha256.#create(secret);
  }
  static #create(secret: SourceData | undefined): Hash | Hmac {
    if (secret === undefined) return createHash('sha256');
    return createHmac(
      'sha256',
      typeof secret === 'string'
        ? secret
        : new Uint8Array(
            ArrayBuffer.isView(secret)
              ? secret.buffer.slice(secret.byteOffset, secret.byteOffset + secret.byteLength)
              : secret,
          ),
    );
  }
  update(data: Uint8Array): void {
    this.#hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
  reset(): void {
    this.#hash = NodeSha256.#create(this.#secret);
  }
}
