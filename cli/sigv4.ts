import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { NodeSha256 } from '../adapters/http/node-sha256.ts';
import { LooprailClient } from './client.ts';

/**
 * A deployed stack's API is IAM-authorised: requests are signed with SigV4 for
 * `execute-api`, with whatever credentials the caller's AWS environment provides (profile,
 * SSO, role). A local dev server takes a bearer token instead; one client serves both.
 */

/** `https://abc123.execute-api.eu-west-1.amazonaws.com` → `eu-west-1`. */
export function regionOfApiUrl(url: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(url).hostname)?.[1];
}

export function sigv4Fetch(
  region: string,
  credentials: AwsCredentialIdentityProvider = fromNodeProviderChain(),
  base: typeof fetch = fetch,
): typeof fetch {
  const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: NodeSha256 });
  return async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers: Record<string, string> = { host: url.host };
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const body = typeof init.body === 'string' ? init.body : undefined;
    const signed = await signer.sign({
      method: init.method ?? 'GET',
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body,
    });
    return base(url, { ...init, headers: signed.headers as Record<string, string> });
  };
}

/** A client for an endpoint: the token when there is one, else SigV4 for a deployed stack. */
export function clientFor(
  endpoint: { url: string; token?: string },
  options: { credentials?: AwsCredentialIdentityProvider; fetch?: typeof fetch } = {},
): LooprailClient {
  const region = endpoint.token ? undefined : regionOfApiUrl(endpoint.url);
  return new LooprailClient({
    ...endpoint,
    fetch: region ? sigv4Fetch(region, options.credentials, options.fetch) : options.fetch,
  });
}
