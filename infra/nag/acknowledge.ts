import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges one AwsSolutions-IAM5 finding: one wildcard resource, on one construct,
 * with its reason. cdk-nag names a finding after the resource as it appears in the
 * template, with references flattened (`{ Ref: X }` → `<X>`, `Fn::GetAtt` → `<X.Attr>`),
 * so the id is computed from the same resolved value rather than typed by hand.
 */
export function acknowledgeWildcardResource(scope: IConstruct, resourceArn: string, reason: string): void {
  const flattened = flattenReference(Stack.of(scope).resolve(resourceArn));
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flattened}]`, reason });
}

/** The subset of cdk-nag's flattening that resolved ARNs use: strings, Ref, Fn::GetAtt, Fn::Join. */
export function flattenReference(value: unknown): string {
  if (typeof value === 'string') return value.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (value && typeof value === 'object') {
    const node = value as Record<string, unknown>;
    if (typeof node.Ref === 'string') return `<${node.Ref}>`;
    const getAtt = node['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${getAtt.map(flattenReference).join('.')}>`;
    const join = node['Fn::Join'];
    if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
      return join[1].map(flattenReference).join(join[0]);
    }
  }
  return JSON.stringify(value);
}
