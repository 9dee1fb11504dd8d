import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentScopes } from '../../functions/_shared/agent-clients.ts';

/**
 * On AWS a step acts for an agent by assuming that agent's own role, with the run id as
 * the session name. The real SDK clients run here against one local endpoint that speaks
 * STS's AssumeRole (query protocol) and Secrets Manager's GetSecretValue (JSON protocol).
 */

interface Seen {
  service: 'sts' | 'secretsmanager';
  params: Record<string, string>;
  authorization?: string;
  securityToken?: string;
}

const TEMP_KEY_ID = ['ASIA', 'TEMPORARYTESTKEY'].join('');
/** Built at run time: no file holds a string shaped like a real access key. */
const STEP_KEY_ID = ['AKIA', 'STEPFUNCTIONROLE'].join('');
const seen: Seen[] = [];
let server: Server;
const saved = { ...process.env };

beforeAll(async () => {
  server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const target = req.headers['x-amz-target'];
    if (target === 'secretsmanager.GetSecretValue') {
      seen.push({
        service: 'secretsmanager',
        params: JSON.parse(body) as Record<string, string>,
        authorization: req.headers.authorization,
        securityToken: req.headers['x-amz-security-token'] as string,
      });
      res
        .writeHead(200, { 'content-type': 'application/x-amz-json-1.1' })
        .end(JSON.stringify({ Name: 'anthropic-api-key', SecretString: 'the-value' }));
      return;
    }
    const params = Object.fromEntries(new URLSearchParams(body));
    seen.push({ service: 'sts', params, authorization: req.headers.authorization });
    const expiration = new Date(Date.now() + 3600_000).toISOString();
    res
      .writeHead(200, { 'content-type': 'text/xml' })
      .end(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/x/${params.RoleSessionName}</Arn><AssumedRoleId>AROAEXAMPLE:${params.RoleSessionName}</AssumedRoleId></AssumedRoleUser>
    <Credentials><AccessKeyId>${TEMP_KEY_ID}</AccessKeyId><SecretAccessKey>tempSecret</SecretAccessKey><SessionToken>temp-session-token</SessionToken><Expiration>${expiration}</Expiration></Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>
</AssumeRoleResponse>`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_STS: url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: url,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: STEP_KEY_ID,
    AWS_SECRET_ACCESS_KEY: 'step-secret',
  });
});

afterAll(async () => {
  process.env = saved;
  server?.close();
});

describe('a step acting for an agent', () => {
  it("assumes the agent's own role with the run id as the session name, and reads secrets with those credentials", async () => {
    const scopeFor = agentScopes({
      roleArnPrefix: 'arn:aws:iam::123456789012:role/Looprail-agent-',
      projectRoot: process.cwd(),
      stateDir: '/tmp/looprail-identity-test',
    });
    const scope = scopeFor('triage.reviewer', 'r-0123456789abcdef');
    expect(await scope.secrets!.get('anthropic-api-key')).toBe('the-value');

    const assume = seen.find((entry) => entry.service === 'sts')!;
    expect(assume.params).toMatchObject({
      Action: 'AssumeRole',
      RoleArn: 'arn:aws:iam::123456789012:role/Looprail-agent-triage.reviewer',
      RoleSessionName: 'r-0123456789abcdef',
    });
    expect(assume.authorization).toContain(`Credential=${STEP_KEY_ID}/`);
    const read = seen.find((entry) => entry.service === 'secretsmanager')!;
    expect(read.params.SecretId).toBe('anthropic-api-key');
    expect(read.authorization).toContain(`Credential=${TEMP_KEY_ID}/`);
    expect(read.securityToken).toBe('temp-session-token');
    await scope.tools.close();
  });

  it('keeps one scope per identity and run, and never shares one between agents', () => {
    const scopeFor = agentScopes({
      roleArnPrefix: 'arn:aws:iam::123456789012:role/Looprail-agent-',
      projectRoot: process.cwd(),
      stateDir: '/tmp/looprail-identity-test',
    });
    expect(scopeFor('triage', 'r-1')).toBe(scopeFor('triage', 'r-1'));
    expect(scopeFor('triage', 'r-1')).not.toBe(scopeFor('reporter', 'r-1'));
    expect(scopeFor('triage', 'r-1')).not.toBe(scopeFor('triage', 'r-2'));
  });
});
