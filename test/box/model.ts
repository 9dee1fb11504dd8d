/**
 * The stack in a box: what a synthesized template says, with every intrinsic resolved for
 * the box's account and Region. Shared by the template reader (template.ts), the IAM
 * authority (iam.ts) and the AWS endpoint (aws-gateway.ts).
 */

export type PolicyDocument = { Version?: string; Statement: unknown[] | unknown };

export interface BoxAccount {
  accountId: string;
  region: string;
  partition: string;
  stackName: string;
}

export interface BoxRole {
  logicalId: string;
  arn: string;
  name: string;
  /** Inline policies and AWS::IAM::Policy / ManagedPolicy documents attached to the role. */
  identityPolicies: { name: string; document: PolicyDocument }[];
  /** AWS managed policy ARNs attached (e.g. AWSLambdaBasicExecutionRole); the box knows only a few. */
  managedPolicyArns: string[];
  trustPolicy: PolicyDocument;
}

/** A resource-based policy: Lambda permissions, SNS topic / SQS queue policies, secret policies. */
export interface BoxResourcePolicy {
  resourceArn: string;
  document: PolicyDocument;
}

/** One authorization question: the caller (by its access key), the IAM action and the resources it touches. */
export interface AuthorizationRequest {
  accessKeyId: string;
  /** `service:Action`, e.g. `dynamodb:Query`. */
  action: string;
  /** One or more ARNs (a TransactWriteItems touches several); `*` for actions without resources. */
  resources: string[];
  /** Request context keys (e.g. `events:source`, `iam:PassedToService`), values as strings or string arrays. */
  context?: Record<string, string | string[]>;
}

export type AuthorizationResult =
  | { allowed: true; principalArn: string }
  | {
      allowed: false;
      principalArn: string | undefined;
      reason: string;
      /** The resource refused (the first one, when the request touched several). */
      resource?: string;
      /** The AccessDenied message as AWS words it ("User: … is not authorized to perform: …"). */
      message?: string;
    };

/** A call the box refused, kept for the test's "zero AccessDenied" and the report by role and action. */
export interface Denial {
  principalArn: string | undefined;
  /** The IAM role behind the session (or the user), for reports by role. */
  roleArn?: string;
  action: string;
  resource: string;
  reason: string;
}

/** Every AWS call a bundle made, for the bench (calls per iteration by service). */
export interface AwsCall {
  service: string;
  action: string;
  principalArn: string | undefined;
  allowed: boolean;
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** What the box's hosts (Lambda, Step Functions, the HTTP API, schedules and rules) ask of the IAM authority. */
export interface BoxIam {
  /** Credentials of a role, as Lambda or Step Functions would receive them. */
  credentialsFor(roleArn: string): Credentials;
  /** The secret key of an access key the authority minted (to verify a SigV4 signature), if it knows it. */
  secretKeyOf(accessKeyId: string): string | undefined;
  /** Async: the policy evaluator validates its input against the service reference (loaded lazily). */
  authorize(request: AuthorizationRequest): Promise<AuthorizationResult>;
  /** A service principal calling on the account's behalf, allowed by the resource's policy (e.g. a Lambda permission). */
  authorizeService(request: {
    servicePrincipal: string;
    action: string;
    resource: string;
    sourceArn?: string;
  }): Promise<AuthorizationResult>;
}
