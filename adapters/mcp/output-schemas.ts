import type { JsonSchemaValidator, jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import { compileSchema } from '../../core/policy/tool-arguments.ts';

/**
 * How the MCP client checks a tool's structured output against its `outputSchema`: with
 * the checks the tool arguments get (core/policy/tool-arguments.ts), instead of the SDK's
 * default ajv, which would put a compiling validator into every bundle that calls tools.
 * As with ajv, a schema that cannot be used fails `tools/list`, naming what is wrong.
 */
export const outputSchemas: jsonSchemaValidator = {
  getValidator<T>(schema: Record<string, unknown>): JsonSchemaValidator<T> {
    const check = compileSchema(schema);
    return (input) => {
      const problems = check(input, 'data');
      return problems === null
        ? { valid: true, data: input as T, errorMessage: undefined }
        : { valid: false, data: undefined, errorMessage: problems };
    };
  },
};
