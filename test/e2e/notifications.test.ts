import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrgFolder, formatProblem } from '../../adapters/catalog/fs-loader.ts';
import { HttpWebhookPoster } from '../../adapters/webhooks/http-poster.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { decodeQuotedPrintable } from '../support/approvals.ts';
import { testHost } from '../support/local-host.ts';

/**
 * `notify:` end to end on the local host: real runs of test/fixtures/loop-org/notified.yaml
 * (copied, with its webhook pointed at a server started here) write .eml files to the
 * outbox and post Slack-compatible JSON; a webhook that fails never fails the run.
 */

interface Received {
  path: string;
  contentType?: string;
  body: { text: string; blocks: Array<{ type: string }> };
}

let org: string;
let server: Server;
let port: number;
const received: Received[] = [];
/** What the webhook answers next: 200 unless a test says otherwise. */
let answer = 200;

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => resolve(body));
    request.on('error', reject);
  });
}

beforeAll(async () => {
  server = createServer(async (request, response) => {
    const body = await readBody(request);
    received.push({
      path: request.url ?? '',
      contentType: request.headers['content-type'],
      body: JSON.parse(body) as Received['body'],
    });
    response.writeHead(answer, { 'content-type': 'text/plain' }).end(answer === 200 ? 'ok' : 'internal_error');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;

  org = await mkdtemp(join(tmpdir(), 'looprail-notify-org-'));
  await cp('test/fixtures/loop-org', org, { recursive: true });
  const notified = await readFile(join(org, 'notified.yaml'), 'utf8');
  await writeFile(
    join(org, 'notified.yaml'),
    notified.replace('http://127.0.0.1:9/hook', `http://127.0.0.1:${port}/hook?token=sekrit`),
  );
  // A second agent: pauses for an approval that expires after a second; notified of the pause and of the end.
  await writeFile(
    join(org, 'notified-pause.yaml'),
    [
      'agent:',
      '  name: notified-pause',
      '  owner: tests@example.com',
      '  model: s-approval',
      '  instructions: ./instructions.md@v1',
      '  mcp_servers: [notes, everything]',
      '  approvals:',
      '    notes.create_entities: { timeout: 1s }',
      '  notify:',
      `    - { on: [paused, finished], webhook: 'http://127.0.0.1:${port}/pause-hook' }`,
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (org) await rm(org, { recursive: true, force: true });
});

function recordingLog() {
  const warnings: Array<{ message: string; fields?: Record<string, unknown> }> = [];
  const infos: string[] = [];
  const log: Logger = {
    info: (message) => infos.push(message),
    warn: (message, fields) => warnings.push({ message, fields }),
    error() {},
  };
  return { log, warnings, infos };
}

async function outboxFiles(stateDir: string): Promise<string[]> {
  try {
    return (await readdir(join(stateDir, 'outbox'))).filter((name) => name.endsWith('.eml'));
  } catch {
    return [];
  }
}

describe('notifications', () => {
  let host: Awaited<ReturnType<typeof testHost>>;
  const { log, warnings, infos } = recordingLog();

  beforeAll(async () => {
    host = await testHost(org, { log });
  });
  afterAll(async () => {
    await host?.close();
  });

  it('a finished run writes one .eml to the outbox and posts one Slack-compatible message', async () => {
    received.length = 0;
    const { runId, meta } = await host.run({ agent: 'notified', input: { task: 'Check the nightly build.' } });
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed' });

    const files = await outboxFiles(host.stateDir);
    expect(files).toHaveLength(1);
    // The body as a reader sees it: quoted-printable soft line breaks undone.
    const eml = decodeQuotedPrintable(await readFile(join(host.outbox.dir, files[0]!), 'utf8'));
    expect(eml).toContain('From: looprail@localhost\r\n');
    expect(eml).toContain('To: lead@example.com\r\n');
    expect(eml).toContain('Subject: [looprail] notified finished: completed\r\n');
    expect(eml).toMatch(/^Content-Type: multipart\/alternative;/m);
    expect(eml).toContain('Content-Type: text/plain; charset=utf-8');
    expect(eml).toContain('Content-Type: text/html; charset=utf-8');
    expect(eml).toContain(`Run ${runId} of notified finished: completed.`);
    expect(eml).toContain('The fallback model answered.');
    expect(eml).toContain(`Trace: looprail trace ${runId}`);
    expect(infos).toContain(
      `mail to lead@example.com: "[looprail] notified finished: completed" → ${join(host.outbox.dir, files[0]!)}`,
    );

    expect(received).toHaveLength(1);
    expect(received[0]!.path).toBe('/hook?token=sekrit');
    expect(received[0]!.contentType).toMatch(/^application\/json/);
    expect(received[0]!.body.text).toBe(`Run ${runId} of notified finished: completed ($0.00015 (110 tokens))`);
    expect(received[0]!.body.blocks.map((block) => block.type)).toEqual(['section', 'section', 'context']);
    expect(JSON.stringify(received[0]!.body.blocks)).toContain('The fallback model answered.');
    expect(warnings).toEqual([]);
  });

  it('a webhook that answers 500 does not fail the run: the mail still goes, a warning is logged without the URL', async () => {
    received.length = 0;
    warnings.length = 0;
    const before = (await outboxFiles(host.stateDir)).length;
    answer = 500;
    try {
      const { meta } = await host.run({ agent: 'notified', input: {} });
      expect(meta).toMatchObject({ status: 'finished', stopReason: 'completed' });
    } finally {
      answer = 200;
    }
    expect(received).toHaveLength(1);
    expect(await outboxFiles(host.stateDir)).toHaveLength(before + 1);
    expect(warnings).toEqual([
      {
        message: 'a run notification could not be delivered',
        fields: expect.objectContaining({
          kind: 'finished',
          destination: 'webhook',
          host: `127.0.0.1:${port}`,
          error: `the webhook at http://127.0.0.1:${port} answered 500: internal_error`,
        }),
      },
    ]);
    expect(JSON.stringify(warnings)).not.toContain('sekrit');
  });

  it('a pause is announced when it is committed, and the end after it', async () => {
    received.length = 0;
    const { runId, meta } = await host.run({ agent: 'notified-pause', input: {} });
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'approval_expired' });
    expect(received.map((each) => each.path)).toEqual(['/pause-hook', '/pause-hook']);
    expect(received[0]!.body.text).toMatch(
      new RegExp(`^Run ${runId} of notified-pause is paused, waiting for a human`),
    );
    expect(JSON.stringify(received[0]!.body.blocks)).toContain('Tools waiting for approval: notes.create_entities');
    expect(received[1]!.body.text).toMatch(new RegExp(`^Run ${runId} of notified-pause finished: approval_expired`));
  });
});

describe('a failed run', () => {
  it('notifies `failed`', async () => {
    received.length = 0;
    const { log } = recordingLog();
    const host = await testHost(org, {
      log,
      wrapHandlers: (handlers) => ({
        ...handlers,
        ModelStep: async () => {
          throw new Error('the model step exploded');
        },
      }),
    });
    try {
      const { runId, meta } = await host.run({ agent: 'notified', input: {} });
      expect(meta).toMatchObject({ status: 'failed', stopReason: 'error' });
      expect(received).toHaveLength(1);
      expect(received[0]!.body.text).toMatch(new RegExp(`^Run ${runId} of notified failed: error`));
      const files = await outboxFiles(host.stateDir);
      expect(files).toHaveLength(1);
      expect(await readFile(join(host.outbox.dir, files[0]!), 'utf8')).toContain(
        'Subject: [looprail] notified failed: error\r\n',
      );
    } finally {
      await host.close();
    }
  });
});

describe('looprail validate', () => {
  it('rejects a notify entry with both an email and a webhook, naming the file, line and path', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'looprail-notify-bad-'));
    try {
      await cp(org, bad, { recursive: true });
      await writeFile(
        join(bad, 'notified.yaml'),
        [
          'agent:',
          '  name: notified',
          '  owner: tests@example.com',
          '  model: s-steady',
          '  instructions: ./instructions.md@v1',
          '  notify:',
          '    - email: lead@example.com',
          '      webhook: https://hooks.example.com/x',
          '',
        ].join('\n'),
      );
      const { problems } = await loadOrgFolder(bad);
      const errors = problems.filter((problem) => problem.severity === 'error').map(formatProblem);
      expect(errors).toEqual([
        `${join(bad, 'notified.yaml')}:7:7: agent.notify[0]: expected exactly one of email or webhook in each notify entry`,
      ]);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });
});

describe('the webhook poster', () => {
  it('fails on a redirect, a timeout or a refused connection, naming only the origin', async () => {
    const slow = createServer((request, response) => {
      if (request.url?.startsWith('/moved'))
        response.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' }).end();
      // Otherwise never answer.
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
    try {
      const poster = new HttpWebhookPoster({ timeoutMs: 200 });
      const failure = (url: string) =>
        poster.post(url, { text: 'x' }).then(
          () => 'delivered',
          (error: Error) => error.message,
        );
      expect(await failure(`${origin}/moved/T0/secret?token=abc`)).toBe(`the webhook at ${origin} answered 302`);
      expect(await failure(`${origin}/slow/T0/secret?token=abc`)).toBe(
        `the webhook at ${origin} did not answer within 200 ms`,
      );
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedOrigin = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
      await new Promise((resolve) => closed.close(resolve));
      expect(await failure(`${closedOrigin}/T0/secret?token=abc`)).toBe(
        `could not reach the webhook at ${closedOrigin}: ECONNREFUSED`,
      );
    } finally {
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    }
  });
});
