import type { NativeAttributeValue } from '@aws-sdk/lib-dynamodb';
import type { BudgetCharge, BudgetLine } from '../../core/budgets/reservation.ts';
import type {
  BudgetLedger,
  BudgetUsage,
  ReserveOutcome,
  RollupDimension,
  RollupIncrement,
  RollupRow,
} from '../../core/ports/store/budgets.ts';
import { cancellationCodesOf } from './errors.ts';
import { KEY_ATTRIBUTES, alertKey, budgetKey, chargeKey, rollupIndexKey, rollupKey } from './keys.ts';
import type { TableClient, TransactItem } from './table-client.ts';

/**
 * The budget ledger on the table:
 *   BUDGET#<scope>#<key> / P#<period>   a line's counters: used (spent + reserved), spent, reserved
 *   CHARGE#<id>                          one row per charge: reserved, then settled (or deleted on release)
 *   ALERT#<budget>#<period> / T#<n>      one per threshold crossed
 *   ROLLUP#<dimension>#<key> / D#<day>   daily spend, on the GSI by dimension and day
 */
export class DynamoBudgetLedger implements BudgetLedger {
  private readonly table: TableClient;

  constructor(table: TableClient) {
    this.table = table;
  }

  async reserveBudget(charge: BudgetCharge): Promise<ReserveOutcome> {
    const items: TransactItem[] = [
      this.table.putNew({
        ...chargeKey(charge.chargeId),
        runId: charge.runId,
        status: 'reserved',
        at: charge.at,
        lines: JSON.stringify(charge.lines),
      }),
      ...charge.lines.map((line) => this.reserveUpdate(line)),
    ];
    try {
      await this.table.transact(items);
      return { ok: true };
    } catch (error) {
      const codes = cancellationCodesOf(error);
      if (!codes) throw this.table.fail('reserveBudget', error);
      // The ledger row exists: this charge was reserved already (a retry), nothing more to do.
      if (codes[0] === 'ConditionalCheckFailed') return { ok: true };
      const failed = codes.findIndex((code, index) => index > 0 && code === 'ConditionalCheckFailed');
      if (failed < 0) throw this.table.fail('reserveBudget', error);
      const line = charge.lines[failed - 1]!;
      const usage = await this.getBudgetUsage(line.scope, line.key, line.periodKey);
      return { ok: false, line, ...usage };
    }
  }

  async settleBudget(charge: BudgetCharge, actual: { micros: number; tokens: number }): Promise<void> {
    const items: TransactItem[] = [
      {
        Update: {
          TableName: this.table.tableName,
          Key: chargeKey(charge.chargeId),
          UpdateExpression: 'SET #status = :settled, actualMicros = :micros, actualTokens = :tokens',
          ConditionExpression: '#status = :reserved',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':settled': 'settled',
            ':reserved': 'reserved',
            ':micros': actual.micros,
            ':tokens': actual.tokens,
          },
        },
      },
      ...charge.lines.map((line) => ({
        Update: {
          TableName: this.table.tableName,
          Key: budgetKey(line.scope, line.key, line.periodKey),
          // The reservation is released and the actual spend takes its place, in one step.
          UpdateExpression:
            'ADD usedMicros :deltaMicros, usedTokens :deltaTokens, spentMicros :micros, spentTokens :tokens, reservedMicros :releaseMicros, reservedTokens :releaseTokens',
          ExpressionAttributeValues: {
            ':deltaMicros': actual.micros - line.reserveMicros,
            ':deltaTokens': actual.tokens - line.reserveTokens,
            ':micros': actual.micros,
            ':tokens': actual.tokens,
            ':releaseMicros': -line.reserveMicros,
            ':releaseTokens': -line.reserveTokens,
          },
        },
      })),
    ];
    // Settled already (a retry): the ledger's condition failed and nothing changed.
    await this.transactUnlessLedgerMoved('settleBudget', items);
  }

  async releaseBudget(charge: BudgetCharge): Promise<void> {
    const items: TransactItem[] = [
      {
        Delete: {
          TableName: this.table.tableName,
          Key: chargeKey(charge.chargeId),
          // Only a reservation is given back: a settled charge is spend, and it stays.
          ConditionExpression: '#status = :reserved',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':reserved': 'reserved' },
        },
      },
      ...charge.lines.map((line) => ({
        Update: {
          TableName: this.table.tableName,
          Key: budgetKey(line.scope, line.key, line.periodKey),
          UpdateExpression:
            'ADD usedMicros :releaseMicros, usedTokens :releaseTokens, reservedMicros :releaseMicros, reservedTokens :releaseTokens',
          ExpressionAttributeValues: { ':releaseMicros': -line.reserveMicros, ':releaseTokens': -line.reserveTokens },
        },
      })),
    ];
    // Released already (a retry), never reserved, or settled: nothing to give back.
    await this.transactUnlessLedgerMoved('releaseBudget', items);
  }

  async getBudgetUsage(scope: string, key: string, periodKey: string): Promise<BudgetUsage> {
    const item = await this.table.getItem('getBudgetUsage', budgetKey(scope, key, periodKey));
    return {
      usedMicros: count(item?.usedMicros),
      usedTokens: count(item?.usedTokens),
      spentMicros: count(item?.spentMicros),
      spentTokens: count(item?.spentTokens),
    };
  }

  async claimAlert(budget: string, periodKey: string, threshold: number, at: string): Promise<boolean> {
    return this.table.putIfAbsent('claimAlert', {
      ...alertKey(budget, periodKey, threshold),
      budget,
      periodKey,
      threshold,
      at,
    });
  }

  async listRollups(dimension: RollupDimension, fromDate: string, toDate: string): Promise<RollupRow[]> {
    const items = await this.table.queryAll('listRollups', {
      IndexName: KEY_ATTRIBUTES.gsi1Name,
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#pk': KEY_ATTRIBUTES.gsi1PartitionKey, '#sk': KEY_ATTRIBUTES.gsi1SortKey },
      ExpressionAttributeValues: { ':pk': `ROLLUP#${dimension}`, ':from': fromDate, ':to': `${toDate}#\uffff` },
    });
    return items.map((item) => ({
      dimension,
      key: String(item.key),
      date: String(item.date),
      costMicros: count(item.costMicros),
      checkerCostMicros: count(item.checkerCostMicros),
      inputTokens: count(item.inputTokens),
      outputTokens: count(item.outputTokens),
      calls: count(item.calls),
    }));
  }

  /** The charge's ledger row goes first: when its condition fails, the charge already moved on and nothing changed. */
  private async transactUnlessLedgerMoved(operation: string, items: TransactItem[]): Promise<void> {
    try {
      await this.table.transact(items);
    } catch (error) {
      if (cancellationCodesOf(error)?.[0] === 'ConditionalCheckFailed') return;
      throw this.table.fail(operation, error);
    }
  }

  /** ADD to a budget's counters, but only while what is used plus this charge stays under each limit. */
  private reserveUpdate(line: BudgetLine): TransactItem {
    const conditions: string[] = [];
    const values: Record<string, NativeAttributeValue> = {
      ':micros': line.reserveMicros,
      ':tokens': line.reserveTokens,
      ':name': line.name,
    };
    // Condition expressions cannot add: "used + this ≤ limit" is written "used ≤ limit − this".
    if (line.limitMicros !== undefined) {
      conditions.push('(attribute_not_exists(usedMicros) OR usedMicros <= :maxMicros)');
      values[':maxMicros'] = line.limitMicros - line.reserveMicros;
    }
    if (line.limitTokens !== undefined) {
      conditions.push('(attribute_not_exists(usedTokens) OR usedTokens <= :maxTokens)');
      values[':maxTokens'] = line.limitTokens - line.reserveTokens;
    }
    return {
      Update: {
        TableName: this.table.tableName,
        Key: budgetKey(line.scope, line.key, line.periodKey),
        UpdateExpression:
          'ADD usedMicros :micros, usedTokens :tokens, reservedMicros :micros, reservedTokens :tokens SET budgetName = :name',
        ...(conditions.length > 0 ? { ConditionExpression: conditions.join(' AND ') } : {}),
        ExpressionAttributeValues: values,
      },
    };
  }
}

/**
 * A step's spend added to a daily rollup row. The run records adapter puts it in the step's
 * commit (one transaction with the step that spent); the row's shape is the ledger's, read above.
 */
export function rollupUpdate(tableName: string, rollup: RollupIncrement): TransactItem {
  const index = rollupIndexKey(rollup.dimension, rollup.date, rollup.key);
  return {
    Update: {
      TableName: tableName,
      Key: rollupKey(rollup.dimension, rollup.key, rollup.date),
      UpdateExpression:
        'ADD costMicros :cost, checkerCostMicros :checker, inputTokens :input, outputTokens :output, calls :calls SET #key = :key, #date = :date, #gpk = :gpk, #gsk = :gsk',
      ExpressionAttributeNames: {
        '#key': 'key',
        '#date': 'date',
        '#gpk': KEY_ATTRIBUTES.gsi1PartitionKey,
        '#gsk': KEY_ATTRIBUTES.gsi1SortKey,
      },
      ExpressionAttributeValues: {
        ':cost': rollup.costMicros,
        ':checker': rollup.role === 'checker' ? rollup.costMicros : 0,
        ':input': rollup.inputTokens,
        ':output': rollup.outputTokens,
        ':calls': rollup.calls,
        ':key': rollup.key,
        ':date': rollup.date,
        ':gpk': index.gsi1pk,
        ':gsk': index.gsi1sk,
      },
    },
  };
}

function count(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}
