import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { NAME_PATTERN } from '../../core/definitions/primitives.ts';
import * as z from '../../core/definitions/zod.ts';
import { ConfigurationError } from '../../core/errors.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { SecretsManagerStore } from '../../adapters/secrets/secrets-manager.ts';
import {
  DEFAULT_SANDBOX_SIGNING_SECRET,
  EGRESS_PROXY_PORT,
  ENV_EGRESS_ALLOWLISTS,
  ENV_SANDBOX_SIGNING_SECRET,
} from '../../adapters/sandbox/aws-contract.ts';
import { compileAllowlists } from './admission.ts';
import { createEgressProxy } from './proxy.ts';
import type { EgressProxy, EgressProxyOptions } from './proxy.ts';

/**
 * The egress proxy's container entry (a Fargate service of its own; `node main.ts`).
 * Its environment is parsed once with zod; the signing key is read by name from Secrets
 * Manager (cached by the store, so a rotated key is picked up within its TTL).
 */

const LOG_LEVEL = z._default(z.enum(['debug', 'info', 'warn', 'error', 'silent']), 'info');

const Allowlists = z.record(
  z.string().check(z.regex(NAME_PATTERN)),
  z.array(z.string(), { error: 'expected a list of hosts' }).check(z.minLength(1, 'expected at least one host')),
  {
    error: (issue) =>
      issue.code === 'invalid_key' ? 'expected agent names as keys (lower case letters, digits and -)' : undefined,
  },
);

export const EgressEnv = z.object({
  [ENV_EGRESS_ALLOWLISTS]: z.pipe(
    z.string({ error: 'expected JSON { "<agent>": ["host", "*.suffix", "host:port"] }' }),
    z.transform((text: string, context) => {
      // zod/mini's transform gets the parse payload, which has no addIssue: its issues are pushed to it.
      const refuse = (message: string) => {
        context.issues.push({ code: 'custom', message, input: text });
      };
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        refuse('expected JSON { "<agent>": ["host", "*.suffix", "host:port"] }');
        return z.NEVER;
      }
      const parsed = Allowlists.safeParse(json);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) refuse(`${issue.path.join('.') || '(top level)'}: ${issue.message}`);
        return z.NEVER;
      }
      try {
        compileAllowlists(parsed.data);
      } catch (error) {
        refuse((error as Error).message);
        return z.NEVER;
      }
      return parsed.data;
    }),
  ),
  [ENV_SANDBOX_SIGNING_SECRET]: z._default(z.string().check(z.minLength(1)), DEFAULT_SANDBOX_SIGNING_SECRET),
  LOOPRAIL_LOG_LEVEL: LOG_LEVEL,
});
export type EgressEnv = z.infer<typeof EgressEnv>;

/** The parsed environment; a bad variable is a ConfigurationError naming it, every problem at once. */
export function egressEnv(env: Record<string, string | undefined>): EgressEnv {
  const parsed = EgressEnv.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new ConfigurationError(`the egress proxy's environment is invalid: ${problems}`);
  }
  return parsed.data;
}

export interface StartOptions {
  env: Record<string, string | undefined>;
  /** Default: Secrets Manager with the ambient region and credentials. */
  secrets?: SecretStore;
  log?: Logger;
  /** Default 0.0.0.0 (the sandboxes reach it across the VPC). */
  host?: string;
  /** Default EGRESS_PROXY_PORT. */
  port?: number;
  /** Tests only (a resolver, loopback targets, small limits). */
  overrides?: Partial<Omit<EgressProxyOptions, 'allowlists' | 'signingKey'>>;
}

/**
 * Parses the environment, reads the signing key once (a missing or unreadable secret
 * stops the start, so a broken deployment fails its health check instead of answering
 * 503 to every sandbox) and listens.
 */
export async function startEgressProxy(options: StartOptions): Promise<{ proxy: EgressProxy; address: AddressInfo }> {
  const env = egressEnv(options.env);
  const log = options.log ?? jsonLogger(env.LOOPRAIL_LOG_LEVEL);
  const secrets = options.secrets ?? new SecretsManagerStore({ client: new SecretsManagerClient({}) });
  const secretName = env[ENV_SANDBOX_SIGNING_SECRET];
  await secrets.get(secretName);
  const proxy = createEgressProxy({
    ...options.overrides,
    allowlists: env[ENV_EGRESS_ALLOWLISTS],
    signingKey: () => secrets.get(secretName),
    log,
  });
  const address = await proxy.listen(options.port ?? EGRESS_PROXY_PORT, options.host ?? '0.0.0.0');
  log.info('egress proxy listening', { port: address.port, agents: Object.keys(env[ENV_EGRESS_ALLOWLISTS]) });
  return { proxy, address };
}

/** ECS sends SIGTERM and waits (stopTimeout, 30 s by default) before SIGKILL: drain inside that. */
const DRAIN_MS = 25_000;

async function main(): Promise<void> {
  const log = jsonLogger('info');
  let started: Awaited<ReturnType<typeof startEgressProxy>>;
  try {
    started = await startEgressProxy({ env: process.env });
  } catch (error) {
    log.error('egress proxy failed to start', { error: (error as Error).name, detail: (error as Error).message });
    process.exit(1);
  }
  const { proxy } = started;
  const stop = () => {
    // New connections are refused at once; open tunnels get until the deadline to finish.
    proxy.server.close();
    proxy.server.closeIdleConnections();
    const deadline = Date.now() + DRAIN_MS;
    const timer = setInterval(() => {
      if (proxy.active > 0 && Date.now() < deadline) return;
      clearInterval(timer);
      log.info('egress proxy stopped', { cut: proxy.active });
      void proxy.close().finally(() => process.exit(0));
    }, 250);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (import.meta.main) await main();
