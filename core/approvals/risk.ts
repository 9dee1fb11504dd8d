import { formatUsd } from '../format/usd.ts';

/**
 * What an approver risks by approving, in plain words for the approval page: whether a call
 * is destructive, whether untrusted content may be steering the run, and what the run has
 * cost against its ceiling. Each line says how serious it is, so the page can show it so.
 */

export interface RiskFacts {
  /** The asked tools (`server.tool`) flagged destructive. */
  destructiveTools: string[];
  /** The run has read content from outside: a tool's result, a webhook's body or an event. */
  untrusted: boolean;
  costMicros: number;
  /** The run's cost ceiling (harness max_cost_usd), when it has one. */
  maxCostMicros?: number;
}

export interface RiskLine {
  kind: 'destructive' | 'untrusted' | 'cost';
  /** `high`: read this before approving; `low`: for the record. */
  level: 'high' | 'low';
  text: string;
}

export function approvalRisk(facts: RiskFacts): RiskLine[] {
  const lines: RiskLine[] = [];
  if (facts.destructiveTools.length > 0)
    lines.push({
      kind: 'destructive',
      level: 'high',
      text: `Destructive: ${facts.destructiveTools.join(', ')} can delete or overwrite data; approving cannot be undone.`,
    });
  lines.push(
    facts.untrusted
      ? {
          kind: 'untrusted',
          level: 'high',
          text: "Untrusted input: the run has read content from outside (a tool's result, a webhook or an event), which may be steering what it asks. Check the arguments.",
        }
      : {
          kind: 'untrusted',
          level: 'low',
          text: 'No untrusted input read so far: only the run input and instructions.',
        },
  );
  lines.push(costLine(facts.costMicros, facts.maxCostMicros));
  return lines;
}

function costLine(costMicros: number, maxCostMicros: number | undefined): RiskLine {
  const cost = formatUsd(costMicros);
  if (maxCostMicros === undefined || maxCostMicros <= 0)
    return { kind: 'cost', level: 'low', text: `Cost so far: ${cost} (no cost ceiling).` };
  const share = Math.round((costMicros / maxCostMicros) * 100);
  return {
    kind: 'cost',
    // Most of the budget spent: approving may let it run to the ceiling.
    level: share >= 80 ? 'high' : 'low',
    text: `Cost so far: ${cost} of its ${formatUsd(maxCostMicros)} budget (${share}%).`,
  };
}
