import type { IamAuthority } from '../iam.ts';
import {
  accessDenied,
  type BoxService,
  type CallContext,
  ServiceError,
  type ServiceResponse,
  queryAnswer,
  xml,
} from './wire.ts';

/**
 * STS (query protocol, form-encoded `Action=…`): AssumeRole checks the caller's identity policies
 * and the target role's trust policy through the IAM authority, and answers with credentials the
 * box minted for the role; GetCallerIdentity says who signed. XML as the SDK parses it.
 */

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

export function stsService(authority: IamAuthority): BoxService {
  return {
    name: 'sts',
    signingName: 'sts',
    protocol: 'query',
    operation: (request) => new URLSearchParams(request.body.toString('utf8')).get('Action') ?? undefined,
    async handle(operation: string, call: CallContext): Promise<ServiceResponse> {
      const form = new URLSearchParams(call.request.body.toString('utf8'));
      if (operation === 'GetCallerIdentity') {
        const session = authority.session(call.accessKeyId)!;
        const userId = session.sessionToken
          ? `AROA${session.accessKeyId.slice(4)}:${session.sessionName}`
          : session.accessKeyId;
        return queryAnswer(
          NS,
          operation,
          `<Arn>${xml(session.principalArn)}</Arn><UserId>${xml(userId)}</UserId><Account>${call.account.accountId}</Account>`,
        );
      }
      if (operation !== 'AssumeRole') {
        throw new ServiceError('InvalidAction', `the box does not serve sts ${operation}`);
      }
      const roleArn = form.get('RoleArn') ?? '';
      const sessionName = form.get('RoleSessionName') ?? '';
      if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
        throw new ServiceError(
          'ValidationError',
          `1 validation error detected: Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint`,
        );
      }
      const assumed = await authority.assumeRole({ accessKeyId: call.accessKeyId, roleArn, sessionName });
      if ('allowed' in assumed) {
        // The authority recorded the denial; refuse as STS does (its message has no "because" clause).
        throw accessDenied(
          'query',
          `User: ${call.principalArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
        );
      }
      const c = assumed.credentials;
      return queryAnswer(
        NS,
        operation,
        `<AssumedRoleUser><Arn>${xml(assumed.assumedRoleArn)}</Arn><AssumedRoleId>${xml(assumed.assumedRoleId)}</AssumedRoleId></AssumedRoleUser>` +
          `<Credentials><AccessKeyId>${c.accessKeyId}</AccessKeyId><SecretAccessKey>${xml(c.secretAccessKey)}</SecretAccessKey>` +
          `<SessionToken>${xml(c.sessionToken)}</SessionToken><Expiration>${c.expiration.toISOString()}</Expiration></Credentials>`,
      );
    },
  };
}
