import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalSecretStore } from '../../adapters/secrets/local-secrets.ts';
import { setSecretCommand } from '../../cli/commands/secrets.ts';

/**
 * `looprail secrets set <name>` as a person runs it: the value on standard input, stored in
 * the local host's secrets file (where local runs read it) or, with --aws, created or updated
 * in Secrets Manager under the name the deployed stack reads (a 127.0.0.1 stand-in speaking
 * its JSON protocol, reached through AWS_ENDPOINT_URL_SECRETS_MANAGER as the SDK resolves
 * it); a name the org does not declare is refused before anything is read or written.
 */

const temps: string[] = [];
const requests: Array<{ target: string; authorization: string; body: Record<string, string> }> = [];
const stored = new Map<string, string>();
let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    const body = JSON.parse(text) as Record<string, string>;
    const target = String(req.headers['x-amz-target']);
    requests.push({ target, authorization: req.headers.authorization ?? '', body });
    const reply = (status: number, payload: unknown) =>
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(payload));
    const arn = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`;
    if (target === 'secretsmanager.PutSecretValue') {
      if (!stored.has(body.SecretId!))
        return reply(400, {
          __type: 'ResourceNotFoundException',
          message: "Secrets Manager can't find the specified secret.",
        });
      stored.set(body.SecretId!, body.SecretString!);
      return reply(200, { ARN: arn(body.SecretId!), Name: body.SecretId, VersionId: 'v2' });
    }
    if (target === 'secretsmanager.CreateSecret') {
      stored.set(body.Name!, body.SecretString!);
      return reply(200, { ARN: arn(body.Name!), Name: body.Name, VersionId: 'v1' });
    }
    reply(400, { __type: 'UnknownOperationException' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

beforeEach(() => {
  requests.length = 0;
});

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'looprail-secrets-'));
  temps.push(dir);
  return join(dir, '.looprail');
}

/** Runs the CLI with `input` on standard input. */
function looprail(input: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/looprail.js', ...args], {
      env: {
        ...process.env,
        NO_COLOR: '1',
        AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint,
        AWS_ACCESS_KEY_ID: 'AKIDLOCAL',
        AWS_SECRET_ACCESS_KEY: 'local-secret-key',
        AWS_REGION: 'us-east-1',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('looprail secrets set', { timeout: 120_000 }, () => {
  it('stores the value from standard input in the local secrets file, readable by its owner only, where local runs read it', async () => {
    const state = await stateDir();
    const first = await looprail('sk-ant-local-value\n', 'secrets', 'set', 'anthropic-api-key', '--state-dir', state);
    expect(first, first.stderr).toMatchObject({ code: 0 });
    expect(first.stdout).toContain(`✓ secret "anthropic-api-key" set in ${join(state, 'secrets.json')}`);
    const second = await looprail('ghp_token', 'secrets', 'set', 'github-token', '--state-dir', state);
    expect(second.code, second.stderr).toBe(0);
    for (const output of [first.stdout, first.stderr, second.stdout, second.stderr]) {
      expect(output).not.toContain('sk-ant-local-value');
      expect(output).not.toContain('ghp_token');
    }
    const file = join(state, 'secrets.json');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      'anthropic-api-key': 'sk-ant-local-value',
      'github-token': 'ghp_token',
    });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await new LocalSecretStore({ file, env: {} }).get('anthropic-api-key')).toBe('sk-ant-local-value');
    expect(requests).toEqual([]);
  });

  it('with --aws, creates the Secrets Manager secret of that name, then updates it, signed for the Region given', async () => {
    const args = ['secrets', 'set', 'github-token', '--aws', '--region', 'eu-west-1'];
    const created = await looprail('ghp_first\n', ...args);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('✓ secret "github-token" created in AWS Secrets Manager (eu-west-1)');
    const updated = await looprail('ghp_second', ...args);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toContain('✓ secret "github-token" updated in AWS Secrets Manager (eu-west-1)');
    expect(requests.map((request) => request.target)).toEqual([
      'secretsmanager.PutSecretValue',
      'secretsmanager.CreateSecret',
      'secretsmanager.PutSecretValue',
    ]);
    expect(requests[1]!.body).toMatchObject({
      Name: 'github-token',
      SecretString: 'ghp_first',
      Description: 'Token for the GitHub MCP server',
    });
    for (const request of requests)
      expect(request.authorization).toMatch(/Credential=AKIDLOCAL\/\d{8}\/eu-west-1\/secretsmanager\//);
    expect(stored.get('github-token')).toBe('ghp_second');
    expect(`${created.stdout}${updated.stdout}`).not.toMatch(/ghp_/);
  });

  it('refuses a name the org does not declare, naming secrets.yaml and what it declares, reading and writing nothing', async () => {
    const state = await stateDir();
    for (const extra of [[], ['--aws', '--region', 'eu-west-1']]) {
      const refused = await looprail('value', 'secrets', 'set', 'anthropic-key', '--state-dir', state, ...extra);
      expect(refused.code).toBe(1);
      expect(refused.stderr.trim()).toBe(
        'looprail: secret "anthropic-key" is not declared in agents/secrets.yaml:4 (declared: anthropic-api-key, github-token); declare it there by name, never its value, then set it',
      );
    }
    await expect(stat(join(state, 'secrets.json'))).rejects.toThrow(/ENOENT/);
    expect(requests).toEqual([]);
  });
});

describe('the value it reads', () => {
  const options = (stdin: Readable & { isTTY?: boolean }) => ({
    org: 'agents',
    stateDir: '/nonexistent/never-written',
    stdin,
    log: () => undefined,
  });

  it('must come on standard input, not a terminal, and must not be empty', async () => {
    const terminal = Object.assign(Readable.from([]), { isTTY: true });
    await expect(setSecretCommand('github-token', options(terminal))).rejects.toThrow(
      /pipe the value of "github-token" on standard input/,
    );
    await expect(setSecretCommand('github-token', options(Readable.from(['\n'])))).rejects.toThrow(
      /no value for "github-token" on standard input; nothing was set/,
    );
  });
});
