import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BoxTemplate } from '../template.ts';
import {
  arn,
  type BoxService,
  type CallContext,
  ServiceError,
  type ServiceResponse,
  queryAnswer,
  xml,
} from './wire.ts';

/**
 * CloudFormation (query protocol, form-encoded `Action=…`): DescribeStacks and
 * ListStackResources of the one stack the box deployed, answered from its template — outputs
 * resolved, each resource's logical id, type and physical id as CloudFormation reports them
 * (what `looprail doctor` reads). Each is authorized on the stack's ARN.
 */

const NS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';
/** CloudFormation's page size for ListStackResources. */
const PAGE = 100;

export interface CloudFormationOptions {
  template: BoxTemplate;
}

export function cloudFormationService(options: CloudFormationOptions | undefined): BoxService {
  return {
    name: 'cloudformation',
    signingName: 'cloudformation',
    protocol: 'query',
    operation: (request) => new URLSearchParams(request.body.toString('utf8')).get('Action') ?? undefined,
    async handle(operation: string, call: CallContext): Promise<ServiceResponse> {
      if (!options) throw new ServiceError('UnknownOperationException', 'the box has no stack to describe');
      if (operation !== 'DescribeStacks' && operation !== 'ListStackResources')
        throw new ServiceError('UnknownOperationException', `the box does not serve cloudformation ${operation}`);
      const { template } = options;
      const form = new URLSearchParams(call.request.body.toString('utf8'));
      const requested = form.get('StackName') ?? '';
      const stackName = template.account.stackName;
      const stackId = arn(call.account, 'cloudformation', `stack/${stackName}/box`);
      const named = requested === stackName || requested === stackId;
      const resource = named ? stackId : arn(call.account, 'cloudformation', `stack/${requested || '*'}/*`);
      await call.authorize(`cloudformation:${operation}`, [resource]);
      if (!named) throw new ServiceError('ValidationError', `Stack with id ${requested} does not exist`);
      if (operation === 'DescribeStacks') return queryAnswer(NS, operation, describeStack(template, stackId));
      return queryAnswer(NS, operation, listResources(template, form.get('NextToken')));
    },
  };
}

const CREATED = new Date(0).toISOString();

function describeStack(template: BoxTemplate, stackId: string): string {
  const outputs = outputNames(template)
    .map(
      (name) =>
        `<member><OutputKey>${xml(name)}</OutputKey><OutputValue>${xml(template.output(name))}</OutputValue></member>`,
    )
    .join('');
  return (
    `<Stacks><member><StackName>${xml(template.account.stackName)}</StackName><StackId>${xml(stackId)}</StackId>` +
    `<CreationTime>${CREATED}</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus>` +
    `<Outputs>${outputs}</Outputs></member></Stacks>`
  );
}

function listResources(template: BoxTemplate, nextToken: string | null): string {
  const ids = Object.keys(template.resources).filter((id) => !template.resources[id]!.Condition);
  const start = nextToken ? Number(nextToken) : 0;
  if (!Number.isInteger(start) || start < 0 || start > ids.length)
    throw new ServiceError('ValidationError', `NextToken ${nextToken} is not one this stack gave`);
  const page = ids.slice(start, start + PAGE);
  const members = page
    .map((id) => {
      const type = template.resources[id]!.Type;
      return (
        `<member><LogicalResourceId>${xml(id)}</LogicalResourceId>` +
        `<PhysicalResourceId>${xml(physicalId(template, id))}</PhysicalResourceId>` +
        `<ResourceType>${xml(type)}</ResourceType><LastUpdatedTimestamp>${CREATED}</LastUpdatedTimestamp>` +
        `<ResourceStatus>CREATE_COMPLETE</ResourceStatus></member>`
      );
    })
    .join('');
  const more = start + PAGE < ids.length ? `<NextToken>${start + PAGE}</NextToken>` : '';
  return `<StackResourceSummaries>${members}</StackResourceSummaries>${more}`;
}

/** What CloudFormation reports as a resource's physical id: its Ref for most types, a generated name otherwise. */
function physicalId(template: BoxTemplate, logicalId: string): string {
  try {
    return template.ref(logicalId);
  } catch {
    return template.physicalName(logicalId);
  }
}

/** The template's output names (BoxTemplate resolves one by name). */
function outputNames(template: BoxTemplate): string[] {
  const file = join(template.outDir, `${template.account.stackName}.template.json`);
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { Outputs?: Record<string, unknown> };
  return Object.keys(raw.Outputs ?? {});
}
