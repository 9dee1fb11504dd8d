import { Stack } from 'aws-cdk-lib';
import { ArnPrincipal, CompositePrincipal, PolicyStatement, Role, type IRole } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { Catalog } from '../../core/definitions/catalog.ts';
import { agentRoleName, identitiesOf, secretsOf, type Identity } from '../../core/definitions/identity.ts';
import { acknowledgeWildcardResource } from '../nag/acknowledge.ts';
import { bedrockModelResources, secretArn } from './catalog-access.ts';
import { stackPrefix } from './stack-names.ts';

export interface AgentIdentitiesProps {
  readonly catalog: Catalog;
  /** The step roles that act for agents (they assume these roles, with the run id as the session name). */
  readonly assumedBy: IRole[];
  /** Role names start with this; default: the stack's name and Region (shortened with a hash) and `-agent-`. */
  readonly namePrefix?: string;
}

/**
 * One IAM role per agent and per sub-agent. Each may read exactly the secrets of its own
 * models and servers and invoke exactly its own Bedrock models; the steps hold none of
 * that themselves, only the right to assume these roles. A loop's rights never leak into
 * another's, and audit logs name the loop and the run.
 */
export class AgentIdentities extends Construct {
  readonly roles: ReadonlyMap<string, Role>;
  /** `arn:<partition>:iam::<account>:role/<name prefix>`, for the steps' environment. */
  readonly roleArnPrefix: string;

  constructor(scope: Construct, id: string, props: AgentIdentitiesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    // IAM names are account-wide: the stack's name and Region, so the same stack in another Region has its own.
    const namePrefix =
      props.namePrefix ??
      `${stackPrefix(this, 32, { global: true, normalize: (name) => name.replace(/[^\w+=,.@-]/g, '') })}-agent-`;
    this.roleArnPrefix = stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: namePrefix });
    const roles = new Map<string, Role>();
    for (const identity of identitiesOf(props.catalog)) {
      roles.set(identity.name, this.roleFor(identity, props, namePrefix));
    }
    this.roles = roles;
    if (roles.size > 0) {
      const arns = [...roles.values()].map((role) => role.roleArn);
      for (const step of props.assumedBy) {
        step.addToPrincipalPolicy(new PolicyStatement({ actions: ['sts:AssumeRole'], resources: arns }));
      }
    }
  }

  private roleFor(identity: Identity, props: AgentIdentitiesProps, namePrefix: string): Role {
    const stack = Stack.of(this);
    const role = new Role(this, `Role-${identity.name.replace(/[^A-Za-z0-9]/g, '')}`, {
      roleName: agentRoleName(namePrefix, identity.name),
      description: `looprail identity of ${identity.subagent ? `sub-agent ${identity.subagent} of ` : ''}agent ${identity.agent}`,
      assumedBy: new CompositePrincipal(...props.assumedBy.map((step) => new ArnPrincipal(step.roleArn))),
    });
    const secrets = secretsOf(props.catalog, identity).map((name) => secretArn(stack, name));
    if (secrets.length > 0)
      role.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: secrets }),
      );
    const bedrock = bedrockModelResources(stack, props.catalog, identity.models);
    if (bedrock.resources.length > 0) {
      role.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['bedrock:InvokeModel'], resources: bedrock.resources }),
      );
      for (const arn of bedrock.wildcards) {
        acknowledgeWildcardResource(
          role,
          arn,
          'A cross-Region inference profile routes each call to a foundation model in one of its Regions, and IAM checks the model there: the model id is fixed, only the Region is open.',
        );
      }
    }
    return role;
  }
}
