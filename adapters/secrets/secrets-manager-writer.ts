import { CreateSecretCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigurationError } from '../../core/errors.ts';

/**
 * Creates or updates a secret in AWS Secrets Manager under the name the deployed stack reads
 * (the name declared in secrets.yaml, as is: infra/constructs/catalog-access.ts `secretArn`).
 * A new value becomes the secret's current version; the functions pick it up when their
 * cached value expires. Messages name the secret, never its value.
 */

export interface WrittenSecret {
  created: boolean;
  versionId?: string;
}

export async function writeSecretsManagerSecret(
  client: SecretsManagerClient,
  secret: { name: string; value: string; description?: string },
): Promise<WrittenSecret> {
  try {
    return await putValue(client, secret);
  } catch (error) {
    if (errorName(error) !== 'ResourceNotFoundException') throw translated(secret.name, error);
  }
  try {
    const created = await client.send(
      new CreateSecretCommand({
        Name: secret.name,
        SecretString: secret.value,
        Description: secret.description ?? 'looprail secret (declared in the org folder secrets.yaml)',
      }),
    );
    return { created: true, versionId: created.VersionId };
  } catch (error) {
    // Created by someone else between the two calls: set the value on theirs.
    if (errorName(error) === 'ResourceExistsException')
      return putValue(client, secret).catch((again) => {
        throw translated(secret.name, again);
      });
    throw translated(secret.name, error);
  }
}

async function putValue(client: SecretsManagerClient, secret: { name: string; value: string }): Promise<WrittenSecret> {
  const output = await client.send(new PutSecretValueCommand({ SecretId: secret.name, SecretString: secret.value }));
  return { created: false, versionId: output.VersionId };
}

function errorName(error: unknown): string {
  return (error as { name?: string } | undefined)?.name ?? 'Error';
}

function translated(name: string, error: unknown): Error {
  const detail = `${errorName(error)}: ${error instanceof Error ? error.message : String(error)}`;
  if (/Region is missing/i.test(detail))
    return new ConfigurationError(`no AWS Region for secret "${name}": pass --region or set AWS_REGION`);
  return new ConfigurationError(`cannot set secret "${name}" in AWS Secrets Manager: ${detail}`);
}
