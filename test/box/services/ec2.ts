import { createHash, randomUUID } from 'node:crypto';
import { type BoxService, type CallContext, ServiceError, type ServiceResponse, xml } from './wire.ts';

/**
 * EC2 (its own query dialect: form-encoded `Action=…`, answers without a Result wrapper):
 * only DescribeManagedPrefixLists, which the sandboxes' S3PrefixList custom resource calls at
 * deploy time. The Region's AWS-managed prefix lists are answered with stable ids, as AWS has
 * one id per list and Region.
 */

const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const MANAGED = ['s3', 'dynamodb'] as const;

export function ec2Service(): BoxService {
  return {
    name: 'ec2',
    signingName: 'ec2',
    protocol: 'ec2',
    operation: (request) => new URLSearchParams(request.body.toString('utf8')).get('Action') ?? undefined,
    async handle(operation: string, call: CallContext): Promise<ServiceResponse> {
      if (operation !== 'DescribeManagedPrefixLists') {
        throw new ServiceError('InvalidAction', `The action ${operation} is not valid for this web service.`);
      }
      // The action has no resource type of its own: IAM evaluates it against "*".
      await call.authorize('ec2:DescribeManagedPrefixLists', ['*']);
      const form = new URLSearchParams(call.request.body.toString('utf8'));
      const lists = managedPrefixLists(call.account.region, call.account.partition).filter((list) =>
        matchesFilters(list, filtersOf(form)),
      );
      const items = lists
        .map(
          (list) =>
            `<item><prefixListId>${list.id}</prefixListId><addressFamily>IPv4</addressFamily><state>create-complete</state>` +
            `<prefixListArn>${xml(list.arn)}</prefixListArn><prefixListName>${xml(list.name)}</prefixListName>` +
            '<version>1</version><ownerId>AWS</ownerId></item>',
        )
        .join('');
      return {
        status: 200,
        headers: { 'content-type': 'text/xml;charset=UTF-8' },
        body:
          `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeManagedPrefixListsResponse xmlns="${NS}">` +
          `<requestId>${randomUUID()}</requestId><prefixListSet>${items}</prefixListSet></DescribeManagedPrefixListsResponse>`,
      };
    },
  };
}

interface PrefixList {
  id: string;
  name: string;
  arn: string;
}

function managedPrefixLists(region: string, partition: string): PrefixList[] {
  return MANAGED.map((service) => {
    const name = `com.amazonaws.${region}.${service}`;
    const id = `pl-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
    return { id, name, arn: `arn:${partition}:ec2:${region}:aws:prefix-list/${id}` };
  });
}

/** `Filter.N.Name` / `Filter.N.Value.M`, as the EC2 query protocol flattens a list of filters. */
function filtersOf(form: URLSearchParams): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  for (let n = 1; form.has(`Filter.${n}.Name`); n++) {
    const values: string[] = [];
    for (let m = 1; form.has(`Filter.${n}.Value.${m}`); m++) values.push(form.get(`Filter.${n}.Value.${m}`)!);
    filters.set(form.get(`Filter.${n}.Name`)!, values);
  }
  return filters;
}

function matchesFilters(list: PrefixList, filters: Map<string, string[]>): boolean {
  const fields: Record<string, string> = {
    'prefix-list-name': list.name,
    'prefix-list-id': list.id,
    'owner-id': 'AWS',
  };
  for (const [name, values] of filters) {
    if (!(name in fields)) throw new ServiceError('InvalidParameterValue', `The filter '${name}' is invalid`);
    if (!values.includes(fields[name]!)) return false;
  }
  return true;
}
