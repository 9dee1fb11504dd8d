import { formatUsd } from '../format/usd.ts';
import { describeLine, reachedThresholds, type BudgetLine } from './reservation.ts';
import { publish, type RunDeps } from '../run/deps.ts';
import type { BudgetLedger } from '../ports/store/budgets.ts';
import { errorMessage } from '../errors.ts';

/**
 * After a call settles: a budget that has crossed one of its thresholds alerts once per
 * threshold and period (not once per call), to every destination it names. An alert that
 * cannot be delivered is logged; it never fails the step.
 */
export async function alertOnThresholds(
  deps: Pick<RunDeps, 'clock' | 'log' | 'events' | 'mailer' | 'webhooks'> & { store: BudgetLedger },
  lines: BudgetLine[],
  context: { runId: string; agent: string },
): Promise<void> {
  for (const line of lines.filter((candidate) => candidate.alerts && candidate.alerts.length > 0)) {
    const usage = await deps.store.getBudgetUsage(line.scope, line.key, line.periodKey);
    for (const threshold of reachedThresholds(line, { micros: usage.spentMicros, tokens: usage.spentTokens })) {
      if (!(await deps.store.claimAlert(line.name, line.periodKey, threshold, deps.clock.now().toISOString())))
        continue;
      const percent = Math.round(threshold * 100);
      const spent = `${formatUsd(usage.spentMicros)}${line.limitMicros ? ` of ${formatUsd(line.limitMicros)}` : ''}${line.limitTokens ? `, ${usage.spentTokens} of ${line.limitTokens} tokens` : ''}`;
      const text = `looprail: ${describeLine(line)} has reached ${percent}% (${spent}); the last call was by agent ${context.agent}, run ${context.runId}.`;
      for (const destination of line.alerts!) {
        try {
          if ('event' in destination) {
            await publish(deps, {
              type: 'looprail.budget.threshold',
              runId: context.runId,
              agent: context.agent,
              detail: {
                budget: line.name,
                scope: line.scope,
                key: line.key,
                period: line.periodKey,
                threshold,
                spentMicros: usage.spentMicros,
                limitMicros: line.limitMicros,
              },
            });
          } else if ('webhook' in destination) {
            if (!deps.webhooks) throw new Error('no webhook poster is configured');
            await deps.webhooks.post(destination.webhook, { text });
          } else {
            if (!deps.mailer) throw new Error('no mailer is configured');
            await deps.mailer.send({ to: [destination.email], subject: `Budget ${line.name} at ${percent}%`, text });
          }
        } catch (error) {
          deps.log.warn('a budget alert could not be delivered', {
            budget: line.name,
            threshold,
            destination: Object.keys(destination)[0],
            error: errorMessage(error),
          });
        }
      }
    }
  }
}
