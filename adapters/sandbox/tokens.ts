import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { errorMessage, SandboxCallError, SandboxUnavailableError, TransientError } from '../../core/errors.ts';
import { knownValueRedactor } from '../../core/guardrails/redact-known.ts';

/**
 * Capabilities a sandbox on AWS is handed, all derived from one key read by name
 * (`looprail/sandbox-signing-key`), so nothing is stored: the broker derives a sandbox's
 * agent token (to call the sandbox agent) and its egress token (for the egress proxy,
 * only when its network policy is an allowlist); the proxy checks an egress token by
 * deriving it again.
 */

/** What the broker presents to a sandbox's agent. The container holds only its digest. */
export function agentToken(key: string, sandboxId: string): string {
  return createHmac('sha256', key).update(`agent\u0000${sandboxId}`).digest('hex');
}

/** SHA-256 (hex) of a token: what the container is given (LOOPRAIL_SANDBOX_TOKEN_SHA256). */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Whether `presented` is the token whose digest is `digest` (constant time). */
export function matchesDigest(presented: string, digest: string): boolean {
  const expected = Buffer.from(digest, 'hex');
  const actual = createHash('sha256').update(presented).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * A sandbox's egress credentials for the proxy: user `<agent>~<sandboxId>`, password the
 * HMAC of both. The proxy applies that agent's allowlist and nothing else.
 */
export function egressToken(key: string, agent: string, sandboxId: string): string {
  return createHmac('sha256', key).update(`egress\u0000${agent}\u0000${sandboxId}`).digest('hex');
}

export function egressUser(agent: string, sandboxId: string): string {
  return `${agent}~${sandboxId}`;
}

/** Parses `<agent>~<sandboxId>`; undefined when it is not one. */
export function parseEgressUser(user: string): { agent: string; sandboxId: string } | undefined {
  const match = /^([a-z][a-z0-9-]{0,62})~([A-Za-z0-9][A-Za-z0-9_-]{0,127})$/.exec(user);
  return match ? { agent: match[1]!, sandboxId: match[2]! } : undefined;
}

/** Whether `password` is the egress token of this agent and sandbox (constant time). */
export function verifyEgressToken(key: string, agent: string, sandboxId: string, password: string): boolean {
  const expected = Buffer.from(egressToken(key, agent, sandboxId), 'utf8');
  const actual = Buffer.from(password, 'utf8');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** The error to report instead of `error`: the same kind, its message with every token in `tokens` redacted, in any encoding. */
export function withoutTokens(error: unknown, tokens: string[], op: string): Error {
  const scrub = knownValueRedactor(tokens).redact;
  if (
    error instanceof SandboxUnavailableError ||
    error instanceof SandboxCallError ||
    error instanceof TransientError
  ) {
    const message = scrub(error.message);
    if (message === error.message) return error;
    const Same = error.constructor as new (message: string) => Error;
    return new Same(message);
  }
  const known = error instanceof Error && error.name.startsWith('looprail.');
  if (known) {
    const copy = new Error(scrub((error as Error).message));
    copy.name = (error as Error).name;
    return copy;
  }
  return new SandboxUnavailableError(`the sandbox broker failed on ${op}: ${scrub(errorMessage(error))}`);
}
