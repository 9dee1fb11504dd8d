import { matchesEventPattern } from '../support/event-pattern.ts';
import type { BoxLambdas, InvokeResult } from './lambdas.ts';
import type { BoxIam } from './model.ts';
import type { BoxTemplate } from './template.ts';

/**
 * EventBridge and EventBridge Scheduler in a box: the template's rules match events with
 * their own patterns and run their targets (input, input path or input transformer) as
 * the events service would — allowed by the function's resource policy; the template's
 * schedules fire on demand (a test says "it is 06:00 now") through the scheduler role.
 */

export interface BoxEvent {
  source: string;
  'detail-type': string;
  detail: Record<string, unknown>;
  resources?: string[];
  account?: string;
  region?: string;
  time?: string;
  id?: string;
}

interface Target {
  Arn: string;
  Input?: string;
  InputPath?: string;
  InputTransformer?: { InputPathsMap?: Record<string, string>; InputTemplate: string };
}

export interface BoxRule {
  logicalId: string;
  arn: string;
  pattern?: Record<string, unknown>;
  schedule?: string;
  enabled: boolean;
  targets: Target[];
}

export interface RuleDelivery {
  rule: string;
  target: string;
  result: InvokeResult;
}

export class BoxRules {
  readonly rules: BoxRule[];
  readonly deliveries: RuleDelivery[] = [];
  private readonly options: { template: BoxTemplate; lambdas: BoxLambdas; iam: BoxIam };

  constructor(options: BoxRules['options']) {
    this.options = options;
    const { template } = options;
    this.rules = template.ofType('AWS::Events::Rule').map((logicalId) => {
      const p = template.properties(logicalId);
      return {
        logicalId,
        arn: template.getAtt(logicalId, 'Arn'),
        pattern: p.EventPattern as Record<string, unknown> | undefined,
        schedule: p.ScheduleExpression as string | undefined,
        enabled: (p.State ?? 'ENABLED') === 'ENABLED',
        targets: (p.Targets ?? []) as Target[],
      };
    });
  }

  /** An event put on the default bus: every enabled rule whose pattern matches runs its targets. */
  async put(event: BoxEvent): Promise<RuleDelivery[]> {
    const { accountId, region } = this.options.template.account;
    const full = {
      version: '0',
      id: event.id ?? crypto.randomUUID(),
      account: accountId,
      region,
      time: new Date().toISOString(),
      resources: [],
      ...event,
    };
    const matched = this.rules.filter(
      (rule) => rule.enabled && rule.pattern && matchesEventPattern(rule.pattern, full),
    );
    const deliveries = await Promise.all(matched.map((rule) => this.deliver(rule, full)));
    return deliveries.flat();
  }

  /** A scheduled rule (`rate(…)`/`cron(…)`) fires now, with the scheduled event as input. */
  async fire(logicalId: string): Promise<RuleDelivery[]> {
    const rule = this.rules.find((each) => each.logicalId === logicalId);
    if (!rule?.schedule) throw new Error(`${logicalId} is not a scheduled rule`);
    const { accountId, region } = this.options.template.account;
    return this.deliver(rule, {
      version: '0',
      id: crypto.randomUUID(),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: accountId,
      time: new Date().toISOString(),
      region,
      resources: [rule.arn],
      detail: {},
    });
  }

  scheduledRules(): BoxRule[] {
    return this.rules.filter((rule) => rule.schedule);
  }

  private async deliver(rule: BoxRule, event: Record<string, unknown>): Promise<RuleDelivery[]> {
    return Promise.all(
      rule.targets.map(async (target) => {
        const verdict = await this.options.iam.authorizeService({
          servicePrincipal: 'events.amazonaws.com',
          action: 'lambda:InvokeFunction',
          resource: target.Arn,
          sourceArn: rule.arn,
        });
        const result: InvokeResult = verdict.allowed
          ? await this.options.lambdas.invoke(target.Arn, inputFor(target, event))
          : { ok: false, error: { errorType: 'AccessDeniedException', errorMessage: verdict.reason } };
        const delivery = { rule: rule.logicalId, target: target.Arn, result };
        this.deliveries.push(delivery);
        return delivery;
      }),
    );
  }
}

/** EventBridge Scheduler: each schedule's target runs with the schedule's role, its input's placeholders filled. */
export class BoxSchedules {
  readonly firings: { schedule: string; result: InvokeResult }[] = [];
  private readonly options: { template: BoxTemplate; lambdas: BoxLambdas; iam: BoxIam };

  constructor(options: BoxSchedules['options']) {
    this.options = options;
  }

  list(): { logicalId: string; name: string; expression: string; timezone?: string; enabled: boolean }[] {
    const { template } = this.options;
    return template.ofType('AWS::Scheduler::Schedule').map((logicalId) => {
      const p = template.properties(logicalId);
      return {
        logicalId,
        name: template.physicalName(logicalId),
        expression: String(p.ScheduleExpression),
        timezone: p.ScheduleExpressionTimezone as string | undefined,
        enabled: (p.State ?? 'ENABLED') === 'ENABLED',
      };
    });
  }

  /** Fires one schedule (by logical id or name) as if its time had come. */
  async fire(reference: string, at = new Date()): Promise<InvokeResult> {
    const schedule = this.list().find((each) => each.logicalId === reference || each.name === reference);
    if (!schedule) throw new Error(`no schedule ${reference} in the template`);
    const target = this.options.template.properties(schedule.logicalId).Target as Target & { RoleArn: string };
    const { accessKeyId } = this.options.iam.credentialsFor(target.RoleArn);
    const verdict = await this.options.iam.authorize({
      accessKeyId,
      action: 'lambda:InvokeFunction',
      resources: [target.Arn],
    });
    const input = (target.Input ?? '{}')
      .replaceAll('<aws.scheduler.scheduled-time>', at.toISOString().replace(/\.\d{3}Z$/, 'Z'))
      .replaceAll('<aws.scheduler.execution-id>', crypto.randomUUID())
      .replaceAll('<aws.scheduler.schedule-arn>', schedule.name)
      .replaceAll('<aws.scheduler.attempt-number>', '0');
    const result: InvokeResult = verdict.allowed
      ? await this.options.lambdas.invoke(target.Arn, JSON.parse(input))
      : { ok: false, error: { errorType: 'AccessDeniedException', errorMessage: verdict.reason } };
    this.firings.push({ schedule: schedule.name, result });
    return result;
  }
}

function inputFor(target: Target, event: Record<string, unknown>): unknown {
  if (target.Input !== undefined) return JSON.parse(target.Input);
  if (target.InputPath !== undefined) return jsonPath(event, target.InputPath);
  const transformer = target.InputTransformer;
  if (!transformer) return event;
  // As EventBridge does: a placeholder inside a JSON string takes the value's text, elsewhere its JSON.
  const text = transformer.InputTemplate.replace(/<([\w.-]+)>/g, (placeholder, name: string, offset: number) => {
    const path = transformer.InputPathsMap?.[name];
    if (path === undefined) return placeholder;
    const value = jsonPath(event, path);
    const insideString = (transformer.InputTemplate.slice(0, offset).match(/(?<!\\)"/g) ?? []).length % 2 === 1;
    if (!insideString) return JSON.stringify(value ?? null);
    return JSON.stringify(typeof value === 'string' ? value : JSON.stringify(value)).slice(1, -1);
  });
  return JSON.parse(text);
}

function jsonPath(value: unknown, path: string): unknown {
  if (path === '$') return value;
  return path
    .replace(/^\$\./, '')
    .split('.')
    .reduce<unknown>(
      (at, key) => (at && typeof at === 'object' ? (at as Record<string, unknown>)[key] : undefined),
      value,
    );
}
