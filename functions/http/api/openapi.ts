import * as z from '../../../core/definitions/zod.ts';
import { ProblemBody } from '../router.ts';
import type { Operation } from './operation.ts';

/** OpenAPI 3.1 for /openapi.json, from the operations' own schemas. */

function jsonSchema(schema: z.ZodMiniType, io: 'input' | 'output'): Record<string, unknown> {
  const converted = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  const { $schema: _ignored, ...rest } = converted;
  return rest;
}

function openApiPath(pattern: string): string {
  return pattern.replace(/:(\w+)/g, '{$1}');
}

const PROBLEM_RESPONSES: Record<number, string> = {
  400: 'the request is invalid: `error.field` names what to fix',
  401: 'no valid credentials',
  404: 'the run or agent does not exist',
  500: 'the server failed; the message carries a request id for the logs',
};

const jsonContent = (schema: Record<string, unknown>) => ({ 'application/json': { schema } });

function parameters(operation: Operation): Array<Record<string, unknown>> {
  const inPath = [...operation.path.matchAll(/:(\w+)/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  const querySchema = operation.query ? jsonSchema(operation.query, 'input') : undefined;
  const queryProperties = (querySchema?.properties ?? {}) as Record<string, Record<string, unknown>>;
  const inQuery = Object.entries(queryProperties).map(([name, schema]) => ({
    name,
    in: 'query',
    required: false,
    schema,
  }));
  return [...inPath, ...inQuery];
}

function responses(operation: Operation, problem: Record<string, unknown>): Record<string, unknown> {
  const answers: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(operation.responses)) {
    answers[status] = response.schema
      ? { description: response.description, content: jsonContent(jsonSchema(response.schema, 'output')) }
      : { description: response.description };
  }
  for (const [status, description] of Object.entries(PROBLEM_RESPONSES)) {
    answers[status] ??= { description, content: jsonContent(problem) };
  }
  return answers;
}

export function openApiDocument(operations: Operation[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const problem = jsonSchema(ProblemBody, 'output');
  for (const operation of operations) {
    (paths[openApiPath(operation.path)] ??= {})[operation.method.toLowerCase()] = {
      operationId: operation.operationId,
      summary: operation.summary,
      parameters: parameters(operation),
      ...(operation.body
        ? { requestBody: { required: true, content: jsonContent(jsonSchema(operation.body, 'input')) } }
        : {}),
      responses: responses(operation, problem),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'looprail API',
      version: '1',
      description:
        'Start, watch and stop governed agent loops. ' +
        'The same API runs on AWS (API Gateway, IAM auth) and locally (`looprail dev`, bearer token).',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'the local dev server: the token `looprail dev` prints',
        },
        sigv4: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'a deployed stack: AWS Signature Version 4 (IAM)',
        },
      },
    },
    security: [{ bearer: [] }, { sigv4: [] }],
    paths,
  };
}
