import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { BoxAccount } from '../model.ts';
import {
  arn,
  type BoxService,
  type CallContext,
  epoch,
  jsonAnswer,
  jsonBody,
  ServiceError,
  targetOperation,
} from './wire.ts';

/**
 * Secrets Manager (awsJson 1.1, `secretsmanager.*`) on an in-memory store. Secret ARNs carry
 * AWS's random six-character suffix (`secret:NAME-AbCdEf`), so a policy written as
 * `secret:NAME-??????` is tested for real.
 */

export interface StoredSecret {
  arn: string;
  name: string;
  description?: string;
  versions: { id: string; value: string; created: Date }[];
  created: Date;
}

export interface SecretStore {
  readonly secrets: Map<string, StoredSecret>;
  /**
   * Adds (or gives a new current value to) a secret, as the box deploys or a test sets it; returns its ARN.
   * `arn`: the ARN the template's reader resolved for it (its Ref), so policies naming it match; default: a new suffix.
   */
  create(name: string, value: string, arn?: string): string;
  /** The secret a SecretId names: its name, full ARN, or ARN without the suffix. */
  find(secretId: string): StoredSecret | undefined;
}

export function createSecretStore(account: BoxAccount): SecretStore {
  const secrets = new Map<string, StoredSecret>();
  const store: SecretStore = {
    secrets,
    create(name, value, knownArn) {
      const created = new Date();
      const version = { id: randomUUID(), value, created };
      const existing = secrets.get(name);
      if (existing) {
        existing.versions.push(version);
        return existing.arn;
      }
      const secretArn = knownArn ?? arn(account, 'secretsmanager', `secret:${name}-${suffix()}`);
      secrets.set(name, { arn: secretArn, name, created, versions: [version] });
      return secretArn;
    },
    find(secretId) {
      if (!secretId.startsWith('arn:')) return secrets.get(secretId);
      return [...secrets.values()].find((each) => each.arn === secretId || each.arn.slice(0, -7) === secretId);
    },
  };
  return store;
}

/** CloudFormation's GenerateSecretString, for the secrets a template creates (the approval signing key). */
export function generateSecretString(spec: {
  PasswordLength?: number;
  ExcludeCharacters?: string;
  ExcludePunctuation?: boolean;
  SecretStringTemplate?: string;
  GenerateStringKey?: string;
}): string {
  const punctuation = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
  let alphabet = `ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789${spec.ExcludePunctuation ? '' : punctuation}`;
  alphabet = [...alphabet].filter((c) => !(spec.ExcludeCharacters ?? '').includes(c)).join('');
  const value = Array.from({ length: spec.PasswordLength ?? 32 }, () => alphabet[randomInt(alphabet.length)]).join('');
  if (!spec.SecretStringTemplate || !spec.GenerateStringKey) return value;
  return JSON.stringify({ ...JSON.parse(spec.SecretStringTemplate), [spec.GenerateStringKey]: value });
}

const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function suffix(): string {
  return [...randomBytes(6)].map((byte) => SUFFIX_ALPHABET[byte % SUFFIX_ALPHABET.length]).join('');
}

export function secretsManagerService(store: SecretStore | undefined): BoxService {
  const protocol = 'awsJson1_1' as const;
  return {
    name: 'secretsmanager',
    signingName: 'secretsmanager',
    protocol,
    operation: (request) => targetOperation(request, 'secretsmanager'),
    async handle(operation: string, call: CallContext) {
      if (!store) throw new ServiceError('UnknownOperationException', 'the box has no secret store');
      const body = jsonBody(call.request);
      if (operation === 'ListSecrets') {
        await call.authorize('secretsmanager:ListSecrets', ['*']);
        return jsonAnswer(protocol, { SecretList: [...store.secrets.values()].map(describe) });
      }
      if (operation === 'CreateSecret') {
        const name = String(body.Name ?? '');
        if (store.find(name))
          throw new ServiceError(
            'ResourceExistsException',
            `The operation failed because the secret ${name} already exists.`,
          );
        await call.authorize(
          'secretsmanager:CreateSecret',
          [arn(call.account, 'secretsmanager', `secret:${name}-${suffix()}`)],
          {
            'secretsmanager:Name': name,
          },
        );
        const secretArn = store.create(name, String(body.SecretString ?? ''));
        const secret = store.find(secretArn)!;
        secret.description = body.Description;
        return jsonAnswer(protocol, { ARN: secretArn, Name: name, VersionId: secret.versions.at(-1)!.id });
      }
      return onSecret(operation, call, store, body);
    },
  };
}

async function onSecret(operation: string, call: CallContext, store: SecretStore, body: Record<string, any>) {
  const protocol = 'awsJson1_1' as const;
  const secretId = String(body.SecretId ?? '');
  const secret = store.find(secretId);
  const resource =
    secret?.arn ?? (secretId.startsWith('arn:') ? secretId : arn(call.account, 'secretsmanager', `secret:${secretId}`));
  const action = `secretsmanager:${operation}`;
  if (!['GetSecretValue', 'DescribeSecret', 'PutSecretValue'].includes(operation)) {
    throw new ServiceError('UnknownOperationException', `the box does not serve secretsmanager ${operation}`);
  }
  await call.authorize(action, [resource]);
  if (!secret) throw new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
  if (operation === 'DescribeSecret') return jsonAnswer(protocol, describe(secret));
  if (operation === 'PutSecretValue') {
    store.create(secret.name, String(body.SecretString ?? ''));
    return jsonAnswer(protocol, {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: secret.versions.at(-1)!.id,
      VersionStages: ['AWSCURRENT'],
    });
  }
  const version = body.VersionId ? secret.versions.find((each) => each.id === body.VersionId) : secret.versions.at(-1);
  if (!version)
    throw new ServiceError(
      'ResourceNotFoundException',
      "Secrets Manager can't find the specified secret value for VersionId.",
    );
  return jsonAnswer(protocol, {
    ARN: secret.arn,
    Name: secret.name,
    VersionId: version.id,
    SecretString: version.value,
    VersionStages: version === secret.versions.at(-1) ? ['AWSCURRENT'] : [],
    CreatedDate: epoch(version.created),
  });
}

function describe(secret: StoredSecret) {
  return {
    ARN: secret.arn,
    Name: secret.name,
    ...(secret.description ? { Description: secret.description } : {}),
    CreatedDate: epoch(secret.created),
    LastChangedDate: epoch(secret.versions.at(-1)!.created),
    VersionIdsToStages: Object.fromEntries(
      secret.versions.map((each, index) => [each.id, index === secret.versions.length - 1 ? ['AWSCURRENT'] : []]),
    ),
  };
}
