import type { Command, Option } from 'commander';
import type { ApprovalPage } from '../../functions/http/api/approvals.ts';
import type { OperatorDecision } from '../../functions/http/approval-pages.ts';
import { resolveEndpoint, type LooprailClient } from '../client.ts';
import { clientFor } from '../sigv4.ts';

/**
 * `looprail approvals` lists what waits for a human; `looprail approve ID` and
 * `looprail reject ID --comment …` decide as the authenticated operator (the dev server's
 * token, or SigV4 on a deployed stack), through the same one-time decision as the
 * mailed link. Task tokens never reach the CLI.
 */

export function approvalsText(page: ApprovalPage): string[] {
  if (page.approvals.length === 0) return ['no approvals are pending'];
  return page.approvals.map((approval) =>
    [
      `${approval.approvalId}  ${approval.agent}  run ${approval.runId}`,
      `  ${approval.tools.length > 0 ? approval.tools.join(', ') : 'budget increase'} · expires ${approval.expiresAt} · approvers ${approval.approvers.join(', ') || '(none named)'}`,
      ...approval.reasons.map((reason) => `  why: ${reason}`),
    ].join('\n'),
  );
}

export function decisionText(result: OperatorDecision): string {
  if (result.waitingFor)
    return `${result.approvalId}: approval by ${result.decision.by} recorded; ${result.waitingFor} more approver(s) must approve`;
  const next =
    result.status === 'approved'
      ? 'the run goes on'
      : result.stopsRun
        ? 'the run stops rejected'
        : 'the agent is told and may go on';
  return `${result.approvalId}: ${result.status} by ${result.decision.by}${result.decision.comment ? ` ("${result.decision.comment}")` : ''}; ${result.delivered ? next : 'recorded, but the run had already stopped waiting'}`;
}

interface EndpointOptions {
  url?: string;
  token?: string;
  stateDir: string;
}

export function registerApprovalsCommands(
  program: Command,
  shared: { urlOption: Option; tokenOption: Option; stateDirOption: Option },
  connect: (options: EndpointOptions) => Promise<LooprailClient> = async (options) =>
    clientFor(await resolveEndpoint(options)),
): void {
  const withEndpoint = (command: Command) =>
    command.addOption(shared.urlOption).addOption(shared.tokenOption).addOption(shared.stateDirOption);

  withEndpoint(
    program
      .command('approvals')
      .description('approvals waiting for a human (through the HTTP API: a dev server, or --url)')
      .option('--agent <name>', 'only this agent')
      .option('--json', 'as JSON'),
  ).action(async (options: EndpointOptions & { agent?: string; json?: boolean }) => {
    const page = await (await connect(options)).listApprovals({ agent: options.agent });
    console.log(options.json ? JSON.stringify(page, null, 2) : approvalsText(page).join('\n'));
  });

  for (const decision of ['approve', 'reject'] as const) {
    withEndpoint(
      program
        .command(decision)
        .description(
          decision === 'approve'
            ? 'approve a pending approval as the operator; the run goes on'
            : 'reject a pending approval as the operator; the agent is told, or the run stops rejected, per definition',
        )
        .argument('<approvalId>')
        .option('--comment <text>', decision === 'reject' ? 'why (the agent reads it)' : 'a note for the trace')
        .option('--json', 'as JSON'),
    ).action(async (approvalId: string, options: EndpointOptions & { comment?: string; json?: boolean }) => {
      const result = await (await connect(options)).decideApproval(approvalId, { decision, comment: options.comment });
      console.log(options.json ? JSON.stringify(result, null, 2) : decisionText(result));
    });
  }
}
