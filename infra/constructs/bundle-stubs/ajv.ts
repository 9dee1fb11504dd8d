/**
 * What a Lambda bundle gets for `ajv` (LAMBDA_BUNDLE_ALIASES, handler-function.ts): the MCP
 * SDK imports ajv for its default JSON Schema validator even when its client is given
 * another (adapters/mcp/output-schemas.ts). Building one is harmless; compiling with it
 * means something was composed with the SDK's default, which the bundles do not carry.
 */
export default class Ajv {
  getSchema(): undefined {
    return undefined;
  }

  compile(): never {
    throw new Error(
      'ajv is not in the Lambda bundles: give the MCP Client or Server a jsonSchemaValidator (adapters/mcp/output-schemas.ts)',
    );
  }
}
