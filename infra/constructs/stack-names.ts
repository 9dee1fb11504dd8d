import { Fn, Stack, Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { sha256 } from '../../core/definitions/hash.ts';

/**
 * Physical names scoped to the stack, so a second stack in the account (another name, or the
 * same name in another Region for account-wide names) never collides with this one.
 */

export interface StackPrefixOptions {
  /** What the service allows (characters removed, lower case, …). Default: the name as is. */
  readonly normalize?: (name: string) => string;
  /** The name is account-wide (IAM), not per Region: the stack's Region is part of it. */
  readonly global?: boolean;
}

/**
 * The stack's name as the start of a physical name, in at most `max` characters: as is
 * when it fits unchanged, else a readable start and a hash of the whole name (a stack name
 * shortened, lower-cased or stripped could otherwise equal another stack's).
 */
export function stackPrefix(scope: IConstruct, max: number, options: StackPrefixOptions = {}): string {
  const stack = Stack.of(scope);
  const region = options.global && !Token.isUnresolved(stack.region) ? stack.region : undefined;
  const full = region ? `${stack.stackName}-${region}` : stack.stackName;
  const slug = options.normalize ? options.normalize(full) : full;
  if (slug === full && slug.length <= max) return slug;
  const hash = sha256(full).slice(0, 8);
  const start = slug.slice(0, max - hash.length - 1).replace(/[^A-Za-z0-9]+$/, '');
  return start ? `${start}-${hash}` : hash;
}

/**
 * A name for a resource the stack keeps when it is deleted (a retained log group): the
 * stack's name and the id CloudFormation gave this creation of it, so deploying the stack
 * again after a delete does not find the old one in its way.
 */
export function retainedName(scope: IConstruct, prefix: string, suffix: string): string {
  const stack = Stack.of(scope);
  const creation = Fn.select(2, Fn.split('/', stack.stackId));
  return `${prefix}${stack.stackName}-${suffix}-${creation}`;
}
