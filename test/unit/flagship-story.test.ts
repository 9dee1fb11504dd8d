import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { OutboxMail } from '../../adapters/mail/outbox-reader.ts';
import { approvalLines, eventLine } from '../../examples/ci-fixer/flagship/story.ts';

/** The lines `npm run flagship` prints for a newcomer, from the trace events as they commit. */

const event = (fields: Partial<TraceEvent>): TraceEvent => ({
  runId: 'r-1',
  seq: 1,
  kind: 'tool_call',
  role: 'maker',
  name: 'git.git_commit',
  status: 'ok',
  startedAt: '2026-12-06T06:00:00.000Z',
  endedAt: '2026-12-06T06:00:01.000Z',
  latencyMs: 1000,
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  costMicros: 0,
  ...fields,
});

describe('the flagship story', () => {
  it('says what each tool is for, and a sandbox command with how it exited (a failing test is what the model wanted to see)', () => {
    expect(eventLine(event({}), 'maker')).toBe('  · git.git_commit — commits it');
    expect(
      eventLine(
        event({
          name: 'sandbox.exec',
          status: 'error',
          detail: 'exit code 1 after 0.39 s\nAssertionError',
          sandbox: { command: 'node test.js', exitCode: 1, durationMs: 390 },
        }),
        'maker',
      ),
    ).toBe('  · sandbox.exec — in its sandbox, a copy of repos/calc: $ node test.js → exit code 1 after 0.39 s');
    expect(
      eventLine(
        event({
          name: 'looprail.ledger_claim',
          detail: 'claimed "calc-sum-2026-12-05" (attempt 1 of 3); the claim lasts until 2026-12-07T00:09:09.591Z.',
        }),
        'maker',
      ),
    ).toBe('  · looprail.ledger_claim: claimed "calc-sum-2026-12-05" (attempt 1 of 3)');
  });

  it('tells the approval, the checks and a failure; model calls and the checker run’s own steps are left to looprail trace', () => {
    expect(
      eventLine(
        event({
          kind: 'approval_decided',
          name: 'git.git_push',
          detail:
            'approval r-1-a2: approved by lead@example.com at 2026-12-06T06:00:00.000Z (link mailed to lead@example.com)',
        }),
        'maker',
      ),
    ).toBe('  ✓ git.git_push: approved by lead@example.com');
    expect(
      eventLine(
        event({ kind: 'verification', role: 'checker', name: 'reviewer', status: 'pass', detail: 'Fine.' }),
        'maker',
      ),
    ).toBe('  ✓ checker reviewer (read-only, reads the diff): PASS — Fine.');
    expect(eventLine(event({ kind: 'run_failed', name: 'ci-fixer', status: 'error', detail: 'boom' }), 'maker')).toBe(
      '  ✗ the run failed: boom',
    );
    expect(eventLine(event({ kind: 'model_call', name: 'fixer' }), 'maker')).toBeUndefined();
    expect(eventLine(event({ name: 'sandbox.diff' }), 'checker')).toBeUndefined();
  });

  it('prints the approval link, and says whether it is approved automatically or waits for a person', () => {
    const request = {
      approvalId: 'r-1-a2',
      runId: 'r-1',
      mail: {
        to: 'lead@example.com',
        subject: '[looprail] approve git.git_push for ci-fixer?',
        file: 'm.eml',
      } as OutboxMail,
      link: 'http://127.0.0.1:1/approvals/r-1-a2?s=x',
      branchesBefore: ['main'],
    };
    const automatic = approvalLines(request, false, 'outbox');
    expect(automatic.slice(0, 2)).toEqual([
      '  ✉ mail to lead@example.com: "[looprail] approve git.git_push for ci-fixer?" (outbox/m.eml)',
      '    link: http://127.0.0.1:1/approvals/r-1-a2?s=x',
    ]);
    expect(automatic[2]).toContain('approving it automatically, as lead@example.com would by opening the link');
    expect(approvalLines(request, true, 'outbox')[2]).toContain('open the link in a browser on this machine');
  });
});
