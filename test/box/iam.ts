import { randomBytes } from 'node:crypto';
import { runSimulation, runUnsafeSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { managedPolicyDocument } from './managed-policies.ts';
import type {
  AuthorizationRequest,
  AuthorizationResult,
  AwsCall,
  BoxAccount,
  BoxIam,
  BoxResourcePolicy,
  BoxRole,
  Credentials,
  Denial,
  PolicyDocument,
} from './model.ts';

/**
 * The box's IAM: it mints credentials for the template's roles (and for operator users the
 * box defines), and answers each authorization question with a real policy evaluator
 * (@cloud-copilot/iam-simulate): identity policies, the inlined AWS managed policies, resource
 * policies where AWS evaluates them (same account: identity OR resource policy allows),
 * conditions, and role trust policies for sts:AssumeRole. Every call and every refusal is kept.
 */

export interface BoxUser {
  name: string;
  policies: { name: string; document: PolicyDocument }[];
}

export interface IamAuthorityOptions {
  account: BoxAccount;
  roles: BoxRole[];
  resourcePolicies: BoxResourcePolicy[];
  users?: BoxUser[];
}

/** Who holds a set of credentials the authority minted. */
export interface BoxSession {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** `arn:aws:sts::<account>:assumed-role/<role>/<session>` or `arn:aws:iam::<account>:user/<name>`. */
  principalArn: string;
  /** The role (or user) ARN behind the session. */
  identityArn: string;
  sessionName?: string;
}

export interface ServiceAuthorization {
  /** e.g. `scheduler.amazonaws.com`. */
  servicePrincipal: string;
  action: string;
  resource: string;
  sourceArn?: string;
  sourceAccount?: string;
}

export interface AssumedRole {
  credentials: Credentials & { sessionToken: string; expiration: Date };
  assumedRoleArn: string;
  assumedRoleId: string;
}

/** An AssumeRole that passed: who assumed which role under what session name. */
export interface RoleAssumption {
  callerArn: string;
  roleArn: string;
  sessionName: string;
}

/** Actions AWS authorizes on the state machine that issued the task token, though the service reference lists no resource. */
const TOKEN_ACTIONS = new Set(['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']);

export class IamAuthority implements BoxIam {
  readonly account: BoxAccount;
  /** Every AWS call the gateway served or refused, in order. */
  readonly calls: AwsCall[] = [];
  /** Every refusal, with the role, action, resource and the evaluator's reason. */
  readonly denials: Denial[] = [];
  readonly assumptions: RoleAssumption[] = [];
  readonly #roles = new Map<string, { role: BoxRole; policies: Simulation['identityPolicies'] }>();
  readonly #users = new Map<string, { arn: string; policies: Simulation['identityPolicies'] }>();
  readonly #sessions = new Map<string, BoxSession & { policies: Simulation['identityPolicies'] }>();
  readonly #userKeys = new Map<string, string>();
  readonly #resourcePolicies = new Map<string, unknown[]>();

  constructor(options: IamAuthorityOptions) {
    this.account = options.account;
    for (const role of options.roles) {
      const policies = [
        ...role.identityPolicies.map((each) => ({ name: each.name, policy: each.document })),
        ...role.managedPolicyArns.map((arn) => ({ name: arn, policy: managedPolicyDocument(arn, role.arn) })),
      ];
      this.#roles.set(role.arn, { role, policies });
    }
    for (const user of options.users ?? []) {
      const arn = `arn:${this.account.partition}:iam::${this.account.accountId}:user/${user.name}`;
      this.#users.set(user.name, { arn, policies: user.policies.map((p) => ({ name: p.name, policy: p.document })) });
    }
    // Several AWS::Lambda::Permission (or bucket policy statements) on one resource are one policy to AWS.
    for (const each of options.resourcePolicies) {
      const statements = this.#resourcePolicies.get(each.resourceArn) ?? [];
      statements.push(...asArray(each.document.Statement));
      this.#resourcePolicies.set(each.resourceArn, statements);
    }
  }

  /** Credentials for a session of a template role (what Lambda gives a function: session name = function name). */
  credentialsFor(roleArn: string, sessionName?: string): Credentials & { sessionToken: string } {
    const entry = this.#roles.get(roleArn);
    if (!entry)
      throw new Error(
        `credentialsFor: no role ${roleArn} in the template (known: ${[...this.#roles.keys()].join(', ')})`,
      );
    const session = sessionName ?? entry.role.name;
    const minted = mint('ASIA', true);
    this.#sessions.set(minted.accessKeyId, {
      ...minted,
      principalArn: `arn:${this.account.partition}:sts::${this.account.accountId}:assumed-role/${entry.role.name}/${session}`,
      identityArn: roleArn,
      sessionName: session,
      policies: entry.policies,
    });
    return minted as Credentials & { sessionToken: string };
  }

  /** Long-term credentials (AKIA…, no session token) of an operator user the box defines. */
  userCredentials(name: string): Credentials {
    const user = this.#users.get(name);
    if (!user) throw new Error(`userCredentials: no user ${name} (known: ${[...this.#users.keys()].join(', ')})`);
    const known = this.#userKeys.get(name);
    if (known) return pick(this.#sessions.get(known)!);
    const minted = mint('AKIA', false);
    this.#sessions.set(minted.accessKeyId, {
      ...minted,
      principalArn: user.arn,
      identityArn: user.arn,
      policies: user.policies,
    });
    this.#userKeys.set(name, minted.accessKeyId);
    return minted;
  }

  /** The secret key of an access key the authority minted (to verify a SigV4 signature). */
  secretKeyOf(accessKeyId: string): string | undefined {
    return this.#sessions.get(accessKeyId)?.secretAccessKey;
  }

  /** The session behind an access key id, for signature checks; undefined when the box never minted it. */
  session(accessKeyId: string): BoxSession | undefined {
    const found = this.#sessions.get(accessKeyId);
    return found ? { ...found } : undefined;
  }

  /** Is this call allowed for the caller's identity policies (and the resources' policies)? All resources must be allowed. */
  async authorize(request: AuthorizationRequest): Promise<AuthorizationResult> {
    const session = this.#sessions.get(request.accessKeyId);
    if (!session) {
      return this.#deny(undefined, undefined, request.action, request.resources[0] ?? '*', 'the access key is unknown');
    }
    for (const resource of request.resources) {
      const verdict = await this.#evaluate({
        principal: session.principalArn,
        identityPolicies: session.policies,
        action: request.action,
        resource,
        resourcePolicy: this.#resourcePolicyFor(resource),
        context: { ...this.#principalContext(session), ...request.context },
      });
      if (verdict !== undefined) {
        return this.#deny(session.principalArn, session.identityArn, request.action, resource, verdict);
      }
    }
    return { allowed: true, principalArn: session.principalArn };
  }

  /**
   * A service principal acting on a resource (EventBridge invoking a Lambda, Scheduler assuming its role): only the
   * resource's policy (for sts:AssumeRole, the role's trust policy) can allow it.
   */
  async authorizeService(request: ServiceAuthorization): Promise<AuthorizationResult> {
    const context: Record<string, string> = { 'aws:SourceAccount': request.sourceAccount ?? this.account.accountId };
    if (request.sourceArn) context['aws:SourceArn'] = request.sourceArn;
    const verdict = await this.#evaluate({
      principal: request.servicePrincipal,
      identityPolicies: [],
      action: request.action,
      resource: request.resource,
      // A service assuming a role (Lambda, Scheduler, Step Functions) is checked against the role's trust policy.
      resourcePolicy:
        request.action === 'sts:AssumeRole'
          ? this.#roles.get(request.resource)?.role.trustPolicy
          : this.#resourcePolicyFor(request.resource),
      context,
    });
    if (verdict === undefined) return { allowed: true, principalArn: request.servicePrincipal };
    return this.#deny(request.servicePrincipal, undefined, request.action, request.resource, verdict);
  }

  /**
   * sts:AssumeRole as AWS evaluates it: the target role's trust policy is the resource policy, the
   * caller's identity policies the identity side (in one account, a trust policy naming the caller's
   * role ARN suffices; one naming the account needs the caller's identity policy too).
   */
  async assumeRole(input: {
    accessKeyId: string;
    roleArn: string;
    sessionName: string;
  }): Promise<AssumedRole | Extract<AuthorizationResult, { allowed: false }>> {
    const session = this.#sessions.get(input.accessKeyId);
    const target = this.#roles.get(input.roleArn);
    const action = 'sts:AssumeRole';
    if (!session) return this.#deny(undefined, undefined, action, input.roleArn, 'the access key is unknown');
    if (!target) {
      return this.#deny(
        session.principalArn,
        session.identityArn,
        action,
        input.roleArn,
        'the role is not in the template',
      );
    }
    const verdict = await this.#evaluate({
      principal: session.principalArn,
      identityPolicies: session.policies,
      action,
      resource: input.roleArn,
      resourcePolicy: target.role.trustPolicy,
      context: { ...this.#principalContext(session), 'sts:RoleSessionName': input.sessionName },
    });
    if (verdict !== undefined) {
      return this.#deny(session.principalArn, session.identityArn, action, input.roleArn, verdict);
    }
    const credentials = this.credentialsFor(input.roleArn, input.sessionName);
    this.assumptions.push({ callerArn: session.principalArn, roleArn: input.roleArn, sessionName: input.sessionName });
    return {
      credentials: { ...credentials, expiration: new Date(Date.now() + 3600_000) },
      assumedRoleArn: this.#sessions.get(credentials.accessKeyId)!.principalArn,
      assumedRoleId: `AROA${randomId(17)}:${input.sessionName}`,
    };
  }

  /** The gateway records each call once it is answered (or refused). */
  recordCall(call: AwsCall): void {
    this.calls.push(call);
  }

  /** undefined when allowed; otherwise the reason, worded as AWS ends its AccessDenied message. */
  async #evaluate(input: {
    principal: string;
    identityPolicies: Simulation['identityPolicies'];
    action: string;
    resource: string;
    resourcePolicy: PolicyDocument | undefined;
    context: Record<string, string | string[]>;
  }): Promise<string | undefined> {
    const simulation: Simulation = {
      request: {
        principal: input.principal,
        action: input.action,
        resource: { resource: input.resource, accountId: this.#accountOf(input.resource) },
        contextVariables: input.context,
      },
      identityPolicies: input.identityPolicies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(input.resourcePolicy ? { resourcePolicy: input.resourcePolicy } : {}),
    };
    if (TOKEN_ACTIONS.has(input.action) && input.resource !== '*') {
      // The service reference lists no resource for these (the validating simulation insists on `*`),
      // yet AWS checks them on the state machine that issued the token; no resource policy applies.
      const result = runUnsafeSimulation(simulation, {});
      return result === 'Allowed' ? undefined : reasonFor(result, input.action, false);
    }
    const response = await runSimulation(simulation, {});
    if (response.resultType === 'error') {
      return `because the box could not evaluate the request: ${JSON.stringify(response.errors)}`;
    }
    if (response.overallResult === 'Allowed') return undefined;
    const analysis = response.resultType === 'single' ? response.result.analysis : undefined;
    return reasonFor(response.overallResult, input.action, analysis?.resourceAnalysis?.result === 'ExplicitlyDenied');
  }

  #deny(
    principalArn: string | undefined,
    roleArn: string | undefined,
    action: string,
    resource: string,
    reason: string,
  ): Extract<AuthorizationResult, { allowed: false }> {
    this.denials.push({ principalArn, ...(roleArn ? { roleArn } : {}), action, resource, reason });
    const who = principalArn ?? 'anonymous';
    const message = `User: ${who} is not authorized to perform: ${action} on resource: ${resource} ${reason}`;
    return { allowed: false, principalArn, reason, resource, message };
  }

  #principalContext(session: BoxSession): Record<string, string> {
    const isUser = session.sessionToken === undefined;
    return {
      'aws:PrincipalArn': session.identityArn,
      'aws:PrincipalAccount': this.account.accountId,
      'aws:PrincipalType': isUser ? 'User' : 'AssumedRole',
      'aws:RequestedRegion': this.account.region,
      'aws:SecureTransport': 'true',
      'aws:CurrentTime': new Date().toISOString(),
      'aws:EpochTime': String(Math.floor(Date.now() / 1000)),
      ...(isUser ? { 'aws:username': session.identityArn.split('/').pop()! } : {}),
    };
  }

  /** The policy attached to a resource: exact ARN, an S3 object's bucket, or a qualified Lambda ARN's function. */
  #resourcePolicyFor(resource: string): PolicyDocument | undefined {
    const found =
      this.#resourcePolicies.get(resource) ??
      (resource.startsWith(`arn:${this.account.partition}:s3:::`)
        ? this.#resourcePolicies.get(resource.split('/')[0]!)
        : undefined) ??
      (resource.includes(':lambda:')
        ? this.#resourcePolicies.get(resource.split(':').slice(0, 7).join(':'))
        : undefined);
    return found ? { Version: '2012-10-17', Statement: found } : undefined;
  }

  #accountOf(resource: string): string {
    const account = resource.split(':')[4];
    return account && /^\d{12}$/.test(account) ? account : this.account.accountId;
  }
}

function reasonFor(result: string, action: string, resourceDenied: boolean): string {
  if (result !== 'ExplicitlyDenied') return `because no identity-based policy allows the ${action} action`;
  return resourceDenied
    ? 'with an explicit deny in a resource-based policy'
    : 'with an explicit deny in an identity-based policy';
}

function mint(prefix: 'ASIA' | 'AKIA', withToken: boolean): Credentials {
  return {
    accessKeyId: `${prefix}${randomId(16)}`,
    secretAccessKey: randomBytes(30).toString('base64'),
    ...(withToken ? { sessionToken: randomBytes(96).toString('base64') } : {}),
  };
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function randomId(length: number): string {
  return [...randomBytes(length)].map((byte) => ID_ALPHABET[byte % ID_ALPHABET.length]).join('');
}

function pick(session: BoxSession): Credentials {
  return {
    accessKeyId: session.accessKeyId,
    secretAccessKey: session.secretAccessKey,
    ...(session.sessionToken ? { sessionToken: session.sessionToken } : {}),
  };
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}
