import type { CfnResource } from 'aws-cdk-lib';
import { NagMessageLevel, NagPack, type NagPackProps } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { lambdaEnvNoSecrets } from './rules/lambda-env-no-secrets.ts';
import { sandboxTaskIsolated } from './rules/sandbox-task-isolated.ts';

/**
 * looprail's own rules, run beside AwsSolutionsChecks:
 * `Validations.of(app).addPlugins(new LooprailChecks(app))`. One pure rule per file in rules/.
 */
export class LooprailChecks extends NagPack {
  readonly name = 'Looprail';

  constructor(scope?: IConstruct, props?: NagPackProps) {
    super(scope, props);
    this.packName = 'Looprail';
  }

  protected checkResource(node: CfnResource): void {
    this.applyRule({
      ruleSuffixOverride: 'LambdaEnvNoSecrets',
      info: 'The Lambda function has an environment variable whose value is, or resolves to, a secret.',
      explanation:
        'Environment variables are shown in the console, returned by GetFunctionConfiguration and written into the template. Pass the secret name instead and read the value from Secrets Manager in the handler.',
      level: NagMessageLevel.ERROR,
      rule: lambdaEnvNoSecrets,
      node,
    });
    this.applyRule({
      ruleSuffixOverride: 'SandboxTaskIsolated',
      info: 'The sandbox task definition gives the commands it runs a way out: a task role, injected secrets, a privileged container, a shared network namespace or a host/EFS volume.',
      explanation:
        'Sandboxes run commands a model wrote. Their tasks hold no AWS credentials and no secrets, run unprivileged in their own awsvpc network namespace, and mount nothing of a host; the broker alone talks to them.',
      level: NagMessageLevel.ERROR,
      rule: sandboxTaskIsolated,
      node,
    });
  }
}
