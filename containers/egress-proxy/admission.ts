import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ConfigurationError } from '../../core/errors.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { checkEgress, isIpLiteral, parseEgressAllowlist } from '../../core/sandbox/egress-allowlist.ts';
import type { EgressAllowlist } from '../../core/sandbox/egress-allowlist.ts';
import { parseEgressUser, verifyEgressToken } from '../../adapters/sandbox/tokens.ts';
import { classifyAddress } from './addresses.ts';
import type { Connection } from './connection-log.ts';
import { Failure, refuse, withTimeout } from './http.ts';

export const EGRESS_REALM = 'looprail-egress';

/** Addresses (IPv4 dotted or bare IPv6) a host name resolves to. */
export type Resolver = (hostname: string) => Promise<readonly string[]>;

/** Compiles every agent's list; all problems at once, each naming the agent. */
export function compileAllowlists(
  allowlists: Readonly<Record<string, readonly string[]>>,
): Map<string, EgressAllowlist> {
  const compiled = new Map<string, EgressAllowlist>();
  const problems: string[] = [];
  for (const [agent, entries] of Object.entries(allowlists)) {
    const result = parseEgressAllowlist(entries);
    if ('errors' in result) problems.push(...result.errors.map((error) => `agent ${agent}: ${error}`));
    else compiled.set(agent, result.allowlist);
  }
  if (problems.length > 0) throw new ConfigurationError(`invalid egress allowlists:\n  ${problems.join('\n  ')}`);
  return compiled;
}

export interface AdmissionOptions {
  allowlists: Map<string, EgressAllowlist>;
  signingKey: () => Promise<string>;
  resolve: Resolver;
  connect: (address: string, port: number) => Socket;
  log: Logger;
  allowLoopback: boolean;
  connectTimeoutMs: number;
  maxConnectionsPerSandbox: number;
}

/**
 * Everything between a parsed request and an open upstream socket: who is asking (verified
 * egress credentials), whether their agent's allowlist lets them reach the host and port,
 * a free connection slot of their sandbox, and a connection to a checked global address.
 * Every refusal throws Failure. It also keeps every open socket, so closing cuts them all.
 */
export class Admission {
  /** Connections past authentication and not yet closed, over all sandboxes. */
  active = 0;
  readonly sockets = new Set<Duplex>();
  private readonly perSandbox = new Map<string, number>();
  private readonly options: AdmissionOptions;

  constructor(options: AdmissionOptions) {
    this.options = options;
  }

  track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  async admit(
    connection: Connection,
    authorization: string | undefined,
    host: string,
    port: number,
  ): Promise<{ upstream: Socket; release: () => void }> {
    const allowlist = await this.authenticate(connection, authorization);
    const decision = checkEgress(allowlist, host, port);
    if (!decision.allowed) refuse(403, decision.reason);
    const release = this.acquire(connection);
    try {
      const addresses = await this.destinations(host);
      return { upstream: await this.open(host, port, addresses), release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Who is asking: their agent and sandbox from verified credentials, and that agent's list. */
  private async authenticate(connection: Connection, header: string | undefined): Promise<EgressAllowlist> {
    const challenge = { headers: { 'proxy-authenticate': `Basic realm="${EGRESS_REALM}"` } };
    if (header === undefined) {
      const expected = 'Basic, user <agent>~<sandboxId>, password the egress token';
      refuse(407, `proxy authentication required (${expected})`, challenge);
    }
    const basic = /^basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
    if (!basic) refuse(407, 'only Basic proxy authentication is accepted', challenge);
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const identity = colon === -1 ? undefined : parseEgressUser(decoded.slice(0, colon));
    if (!identity) refuse(407, 'the proxy user must be <agent>~<sandboxId>', challenge);
    connection.agent = identity.agent;
    connection.sandbox = identity.sandboxId;
    let key: string;
    try {
      key = await this.options.signingKey();
    } catch (error) {
      this.options.log.error('egress signing key unavailable', { error: (error as Error).name });
      return refuse(503, 'the egress proxy cannot check credentials right now', { decision: 'failed' });
    }
    if (!verifyEgressToken(key, identity.agent, identity.sandboxId, decoded.slice(colon + 1))) {
      refuse(407, `wrong egress credentials for ${identity.agent}~${identity.sandboxId}`, challenge);
    }
    const allowlist = this.options.allowlists.get(identity.agent);
    if (!allowlist) refuse(403, `agent ${identity.agent} has no network allowlist`);
    return allowlist;
  }

  /** Takes one of the sandbox's connection slots; the returned function gives it back (once). */
  private acquire(connection: Connection): () => void {
    const key = `${connection.agent}~${connection.sandbox}`;
    const held = this.perSandbox.get(key) ?? 0;
    const max = this.options.maxConnectionsPerSandbox;
    if (held >= max) refuse(429, `sandbox ${connection.sandbox} already has ${max} open connections`);
    this.perSandbox.set(key, held + 1);
    this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
      const left = (this.perSandbox.get(key) ?? 1) - 1;
      if (left === 0) this.perSandbox.delete(key);
      else this.perSandbox.set(key, left);
    };
  }

  /** The addresses to try: every one the name resolves to, each a destination sandboxes may reach. */
  private async destinations(host: string): Promise<string[]> {
    if (isIpLiteral(host)) {
      const address = host.replace(/^\[|\]$/g, '');
      const kind = classifyAddress(address);
      if (!this.reachable(kind)) refuse(403, `${host} is a ${kind} address, which sandboxes may not reach`);
      return [address];
    }
    let addresses: readonly string[];
    try {
      const timedOut = () => new Failure({ status: 504, reason: `resolving ${host} timed out`, decision: 'failed' });
      addresses = await withTimeout(this.options.resolve(host), this.options.connectTimeoutMs, timedOut);
    } catch (error) {
      if (error instanceof Failure) throw error;
      const code = (error as { code?: unknown }).code;
      const detail = typeof code === 'string' ? ` (${code})` : '';
      return refuse(502, `cannot resolve ${host}${detail}`, { decision: 'failed' });
    }
    if (addresses.length === 0) refuse(502, `${host} has no addresses`, { decision: 'failed' });
    // All or nothing: a name with any internal answer is refused outright, whichever answer a retry would get.
    for (const address of addresses) {
      const kind = classifyAddress(address);
      if (!this.reachable(kind)) {
        refuse(403, `${host} resolves to ${address} (${kind}), which sandboxes may not reach`);
      }
    }
    return [...addresses];
  }

  private reachable(kind: ReturnType<typeof classifyAddress>): boolean {
    return kind === 'global' || (kind === 'loopback' && this.options.allowLoopback);
  }

  /** Connects to the checked addresses in turn (an address family the VPC lacks fails fast). */
  private async open(host: string, port: number, addresses: string[]): Promise<Socket> {
    let lastError: unknown;
    for (const address of addresses) {
      const socket = this.options.connect(address, port);
      this.track(socket);
      try {
        await withTimeout(
          new Promise<void>((resolveConnect, rejectConnect) => {
            socket.once('connect', resolveConnect);
            socket.once('error', rejectConnect);
          }),
          this.options.connectTimeoutMs,
          () => new Failure({ status: 504, reason: `connecting to ${host}:${port} timed out`, decision: 'failed' }),
        );
        // From here the tunnel or the forwarded request handles errors; until then none may go unheard.
        socket.on('error', () => socket.destroy());
        return socket;
      } catch (error) {
        socket.destroy();
        if (error instanceof Failure) throw error;
        lastError = error;
      }
    }
    const code = (lastError as { code?: unknown } | undefined)?.code;
    const detail = typeof code === 'string' ? ` (${code})` : '';
    return refuse(502, `cannot connect to ${host}:${port}${detail}`, { decision: 'failed' });
  }
}
