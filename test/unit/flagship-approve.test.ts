import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboxMail } from '../../adapters/mail/outbox-reader.ts';
import { type ApprovalRequest, approveByLink, type Morning } from '../../examples/ci-fixer/flagship/mornings.ts';

/**
 * `npm run flagship` approving through the mailed link: the page's form is posted back with
 * its token; a page without a form, or an answer other than "Approved by", stops it with the link.
 * (The real approval pages are exercised by test/e2e/flagship-loop.test.ts.)
 */

const pages: Record<string, { page: string; answer: string }> = {
  '/approvals/good': {
    page: '<form><input type="hidden" name="form_token" value="t-1"></form>',
    answer: '<h1>Approved</h1><p>Approved by lead@example.com at now.</p>',
  },
  '/approvals/no-form': { page: '<h1>Link expired</h1>', answer: '' },
  '/approvals/refused': {
    page: '<form><input type="hidden" name="form_token" value="t-2"></form>',
    answer: '<h1>Already decided</h1>',
  },
};
const posted: string[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    const entry = pages[request.url ?? ''];
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      if (request.method === 'POST') posted.push(body);
      response.writeHead(entry ? 200 : 404, { 'content-type': 'text/html' });
      response.end(request.method === 'POST' ? entry?.answer : entry?.page);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const request = (path: string): ApprovalRequest => ({
  approvalId: 'r-1-a2',
  runId: 'r-1',
  mail: {} as OutboxMail,
  link: `${base}${path}`,
  branchesBefore: ['main'],
});
const morning = {} as Morning;

describe('approving through the mailed link', () => {
  it("posts the page's form back with its token and the decision", async () => {
    const outcome = await approveByLink(request('/approvals/good'), morning);
    expect(outcome.answer).toContain('Approved by lead@example.com');
    expect(posted).toEqual(['form_token=t-1&decision=approve']);
  });

  it('stops on a page without a form, naming the link', async () => {
    await expect(approveByLink(request('/approvals/no-form'), morning)).rejects.toThrow(
      `the approval page at ${base}/approvals/no-form has no form to approve with`,
    );
  });

  it('stops when the answer is not an approval, quoting its heading', async () => {
    await expect(approveByLink(request('/approvals/refused'), morning)).rejects.toThrow(
      `approving at ${base}/approvals/refused answered "Already decided", not "Approved by …"`,
    );
  });
});
