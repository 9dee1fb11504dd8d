import { describe, expect, it } from 'vitest';
import { approvalEmail, followUpEmail } from '../../core/approvals/email.ts';
import { approvalSchedule, dueApprovalActions } from '../../core/approvals/reminders.ts';
import type { ApprovalRule, ToolSpec } from '../../core/definitions/context.ts';
import { approvalFor } from '../../core/policy/approval-rules.ts';
import type { ApprovalRecord } from '../../core/ports/store/approvals.ts';

const T0 = Date.parse('2026-01-05T09:00:00.000Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);
const iso = (minutes: number) => at(minutes).toISOString();

function record(overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    approvalId: 'a1',
    runId: 'r1',
    seq: 3,
    taskToken: 'token',
    tools: ['notes.create_entities'],
    callIds: ['c1'],
    reasons: ['rule'],
    approvers: ['lead@example.com'],
    status: 'pending',
    createdAt: iso(0),
    expiresAt: iso(480),
    remindAt: iso(420),
    escalateAt: iso(240),
    escalateTo: ['ops@example.com'],
    ...overrides,
  };
}

describe('dueApprovalActions', () => {
  it('is due for nothing before the times, and for each once its time has come', () => {
    expect(dueApprovalActions([record()], at(239))).toEqual([]);
    expect(dueApprovalActions([record()], at(240))).toEqual([{ approvalId: 'a1', runId: 'r1', kind: 'escalation' }]);
    expect(dueApprovalActions([record()], at(420))).toEqual([
      { approvalId: 'a1', runId: 'r1', kind: 'escalation' },
      { approvalId: 'a1', runId: 'r1', kind: 'reminder' },
    ]);
  });

  it('is due for nothing already done, decided, expired, or not declared', () => {
    expect(dueApprovalActions([record({ escalatedAt: iso(241), reminderSentAt: iso(421) })], at(479))).toEqual([]);
    expect(dueApprovalActions([record({ escalatedAt: iso(241) })], at(479))).toEqual([
      { approvalId: 'a1', runId: 'r1', kind: 'reminder' },
    ]);
    for (const status of ['approved', 'rejected', 'expired'] as const)
      expect(dueApprovalActions([record({ status })], at(479))).toEqual([]);
    expect(dueApprovalActions([record()], at(480))).toEqual([]);
    expect(
      dueApprovalActions([record({ remindAt: undefined, escalateAt: undefined, escalateTo: undefined })], at(479)),
    ).toEqual([]);
    expect(dueApprovalActions([record({ escalateTo: [] })], at(300))).toEqual([]);
  });

  it('looks at each approval on its own', () => {
    const other = record({
      approvalId: 'a2',
      runId: 'r2',
      createdAt: iso(200),
      expiresAt: iso(680),
      remindAt: iso(620),
      escalateAt: iso(440),
    });
    expect(dueApprovalActions([record(), other], at(430))).toEqual([
      { approvalId: 'a1', runId: 'r1', kind: 'escalation' },
      { approvalId: 'a1', runId: 'r1', kind: 'reminder' },
    ]);
  });
});

describe('approvalSchedule', () => {
  it('reminds remind_before ahead of expiry and escalates escalate_after past the request', () => {
    expect(
      approvalSchedule(at(0), at(480), [
        {
          reasons: [],
          approvers: [],
          timeoutSeconds: 28_800,
          onReject: 'continue',
          remindBeforeSeconds: 3600,
          escalateAfterSeconds: 14_400,
          escalateTo: ['ops@example.com'],
        },
      ]),
    ).toEqual({
      remindAt: iso(420),
      escalateAt: iso(240),
      escalateTo: ['ops@example.com'],
    });
  });

  it('drops what would fall outside the wait (a shorter timeout of another call), and has nothing when nothing is declared', () => {
    expect(
      approvalSchedule(at(0), at(30), [
        {
          reasons: [],
          approvers: [],
          timeoutSeconds: 1800,
          onReject: 'continue',
          remindBeforeSeconds: 3600,
          escalateAfterSeconds: 14_400,
          escalateTo: ['ops@example.com'],
        },
      ]),
    ).toEqual({});
    expect(
      approvalSchedule(at(0), at(480), [{ reasons: [], approvers: [], timeoutSeconds: 28_800, onReject: 'continue' }]),
    ).toEqual({});
  });
});

describe('approvalFor with reminders and escalation', () => {
  const spec = { name: 'notes_create_entities', server: 'notes', tool: 'create_entities' } as ToolSpec;
  const rule = (overrides: Partial<ApprovalRule>): ApprovalRule => ({
    pattern: 'notes.*',
    approvers: ['lead@example.com'],
    timeoutSeconds: 28_800,
    onReject: 'continue',
    ...overrides,
  });

  it('takes the earliest reminder and escalation of the matching rules, and every escalation address', () => {
    const requirement = approvalFor(
      spec,
      [
        rule({ remindBeforeSeconds: 600, escalateAfterSeconds: 7200, escalateTo: ['a@example.com'] }),
        rule({
          pattern: 'notes.create_entities',
          remindBeforeSeconds: 3600,
          escalateAfterSeconds: 3600,
          escalateTo: ['b@example.com'],
        }),
      ],
      86_400,
    );
    expect(requirement).toMatchObject({
      remindBeforeSeconds: 3600,
      escalateAfterSeconds: 3600,
      escalateTo: ['a@example.com', 'b@example.com'],
    });
  });

  it('adds nothing when no rule declares them', () => {
    const requirement = approvalFor(spec, [rule({})], 86_400)!;
    expect(
      'remindBeforeSeconds' in requirement || 'escalateAfterSeconds' in requirement || 'escalateTo' in requirement,
    ).toBe(false);
  });
});

describe('the reminder and escalation mails', () => {
  const facts = {
    agent: 'approval-stop',
    runId: 'r1',
    approvalId: 'a1',
    calls: [{ tool: 'notes.create_entities', arguments: { name: '<b>x</b>' } }],
    reasons: ['rule'],
    costMicros: 1200,
    expiresAt: iso(480),
    traceUrl: 'http://127.0.0.1:1/v1/runs/r1/trace',
  };
  const mail = approvalEmail(facts, 'lead@example.com', 'http://127.0.0.1:1/approvals/a1?sig=x');

  it('are the approval mail, its subject and first line saying why, with the same link', () => {
    const reminder = followUpEmail(mail, 'reminder', facts.expiresAt);
    expect(reminder.subject).toBe('[looprail] reminder: approve notes.create_entities for approval-stop?');
    expect(reminder.text.split('\n')[0]).toBe(
      `Reminder: nobody has decided yet, and this approval expires at ${facts.expiresAt}.`,
    );
    expect(reminder.text).toContain('http://127.0.0.1:1/approvals/a1?sig=x');
    expect(reminder.to).toEqual(['lead@example.com']);
    const escalated = followUpEmail(mail, 'escalation', facts.expiresAt);
    expect(escalated.subject).toBe('[looprail] escalated: approve notes.create_entities for approval-stop?');
    expect(escalated.html).toContain('<p><strong>Escalated to you:');
    expect(escalated.html).not.toContain('<b>x</b>');
  });
});
