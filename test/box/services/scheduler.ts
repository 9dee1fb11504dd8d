import { arn, type BoxService, type CallContext, epoch, jsonAnswer, ServiceError } from './wire.ts';

/**
 * EventBridge Scheduler (REST-JSON): GetSchedule on `schedule/<group>/<name>` and ListSchedules,
 * answered from the schedules the box deployed from the template (for `looprail doctor`).
 */

export interface SchedulerSchedule {
  name: string;
  groupName?: string;
  state: 'ENABLED' | 'DISABLED';
  scheduleExpression: string;
  scheduleExpressionTimezone?: string;
  target: { arn: string; roleArn: string; input?: string };
  created?: Date;
}

const ONE = /^\/schedules\/([^/]+)$/;

export function schedulerService(schedules: SchedulerSchedule[] | (() => SchedulerSchedule[]) | undefined): BoxService {
  const all = () => (typeof schedules === 'function' ? schedules() : (schedules ?? []));
  return {
    name: 'scheduler',
    signingName: 'scheduler',
    protocol: 'restJson',
    operation(request) {
      if (request.method !== 'GET') return undefined;
      if (request.path === '/schedules') return 'ListSchedules';
      return ONE.test(request.path) ? 'GetSchedule' : undefined;
    },
    async handle(operation: string, call: CallContext) {
      const scheduleArn = (each: SchedulerSchedule) =>
        arn(call.account, 'scheduler', `schedule/${each.groupName ?? 'default'}/${each.name}`);
      const summary = (each: SchedulerSchedule) => ({
        Arn: scheduleArn(each),
        Name: each.name,
        GroupName: each.groupName ?? 'default',
        State: each.state,
        Target: { Arn: each.target.arn },
        CreationDate: epoch(each.created ?? new Date(0)),
        LastModificationDate: epoch(each.created ?? new Date(0)),
      });
      const query = call.request.query;
      if (operation === 'ListSchedules') {
        await call.authorize('scheduler:ListSchedules', ['*']);
        const listed = all().filter(
          (each) =>
            (!query.get('ScheduleGroup') || (each.groupName ?? 'default') === query.get('ScheduleGroup')) &&
            (!query.get('NamePrefix') || each.name.startsWith(query.get('NamePrefix')!)) &&
            (!query.get('State') || each.state === query.get('State')),
        );
        return jsonAnswer('restJson', { Schedules: listed.map(summary) });
      }
      const name = decodeURIComponent(ONE.exec(call.request.path)![1]!);
      const group = query.get('groupName') ?? 'default';
      await call.authorize('scheduler:GetSchedule', [arn(call.account, 'scheduler', `schedule/${group}/${name}`)]);
      const found = all().find((each) => each.name === name && (each.groupName ?? 'default') === group);
      if (!found) throw new ServiceError('ResourceNotFoundException', `Schedule ${name} does not exist.`, 404);
      const { Target: _, ...rest } = summary(found);
      return jsonAnswer('restJson', {
        ...rest,
        ScheduleExpression: found.scheduleExpression,
        ...(found.scheduleExpressionTimezone ? { ScheduleExpressionTimezone: found.scheduleExpressionTimezone } : {}),
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: found.target.arn,
          RoleArn: found.target.roleArn,
          ...(found.target.input !== undefined ? { Input: found.target.input } : {}),
        },
      });
    },
  };
}

/** The template's AWS::Scheduler::Schedule resources, as the gateway answers them. */
export function schedulesOf(template: {
  ofType(type: string): string[];
  properties(logicalId: string): Record<string, any>;
  physicalName(logicalId: string): string;
}): SchedulerSchedule[] {
  return template.ofType('AWS::Scheduler::Schedule').map((logicalId) => {
    const p = template.properties(logicalId);
    return {
      name: template.physicalName(logicalId),
      ...(p.GroupName ? { groupName: String(p.GroupName) } : {}),
      state: p.State === 'DISABLED' ? 'DISABLED' : 'ENABLED',
      scheduleExpression: String(p.ScheduleExpression),
      ...(p.ScheduleExpressionTimezone ? { scheduleExpressionTimezone: String(p.ScheduleExpressionTimezone) } : {}),
      target: {
        arn: String(p.Target?.Arn),
        roleArn: String(p.Target?.RoleArn),
        ...(p.Target?.Input !== undefined ? { input: String(p.Target.Input) } : {}),
      },
    };
  });
}
