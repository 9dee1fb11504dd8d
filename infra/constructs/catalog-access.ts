import { ArnFormat, type Stack } from 'aws-cdk-lib';
import type { Catalog } from '../../core/definitions/catalog.ts';

/**
 * What the validated catalog says the runtime may touch, as IAM resource ARNs.
 * Pure functions of the catalog (plus the stack, for partition/region/account), so the
 * grants in the constructs follow the GitOps folder and nothing else.
 */

/**
 * A secret by name. Secrets Manager appends `-` and six random characters to every
 * secret's ARN, so the grant matches exactly those six (`??????`), not a prefix:
 * `prod/key` must not also match `prod/key-2`.
 */
export function secretArn(stack: Stack, name: string): string {
  return stack.formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: `${name}-??????`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** Prefixes of the cross-Region (system-defined) inference profiles Bedrock offers. */
const INFERENCE_PROFILE_PREFIX = /^(us|us-gov|eu|apac|jp|au|ca|global)\.(.+)$/;

export interface BedrockModelResources {
  /** ARNs the statement names; those with `*` are listed in `wildcards` too. */
  resources: string[];
  /** The ARNs that hold a wildcard, so the caller can acknowledge them one by one. */
  wildcards: string[];
}

/**
 * Resources for `bedrock:InvokeModel` (which also authorises Converse) on the catalog's
 * bedrock models:
 * - a foundation model id → its foundation-model ARN in the model's region (default: the stack's);
 * - a cross-Region inference profile id (`us.…`, `eu.…`, `global.…`) → the profile's ARN, plus
 *   the foundation model in any Region, because the profile routes each call to one of its
 *   Regions and IAM checks the model there too;
 * - a full ARN (application inference profile, provisioned throughput) → as written.
 */
export function bedrockModelResources(stack: Stack, catalog: Catalog, only?: string[]): BedrockModelResources {
  const resources = new Set<string>();
  const wildcards = new Set<string>();
  for (const model of Object.values(catalog.models).filter((entry) => !only || only.includes(entry.name))) {
    const declaration = model.declaration;
    if (declaration.provider !== 'bedrock') continue;
    const modelId = declaration.model_id ?? model.name;
    const region = declaration.region ?? stack.region;
    if (modelId.startsWith('arn:')) {
      resources.add(modelId);
      continue;
    }
    const profile = INFERENCE_PROFILE_PREFIX.exec(modelId);
    if (profile) {
      resources.add(
        stack.formatArn({ service: 'bedrock', region, resource: 'inference-profile', resourceName: modelId }),
      );
      const anyRegionModel = stack.formatArn({
        service: 'bedrock',
        region: '*',
        account: '',
        resource: 'foundation-model',
        resourceName: profile[2],
      });
      resources.add(anyRegionModel);
      wildcards.add(anyRegionModel);
      continue;
    }
    resources.add(
      stack.formatArn({ service: 'bedrock', region, account: '', resource: 'foundation-model', resourceName: modelId }),
    );
  }
  return { resources: [...resources], wildcards: [...wildcards] };
}
