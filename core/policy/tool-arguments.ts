import { Ajv, type ValidateFunction } from 'ajv';
import { INVALID_ARGUMENTS_KEY, REFUSED_ARGUMENTS_KEY } from '../definitions/messages.ts';

/**
 * A tool call's arguments are checked against the tool's own input schema before the
 * call: a model that invents or mistypes an argument gets a precise error to correct,
 * and the server never sees the malformed call.
 */

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const compiled = new Map<string, ValidateFunction | null>();
const MAX_CACHED = 500;

function validatorFor(schema: Record<string, unknown>): ValidateFunction | null {
  const key = JSON.stringify(schema);
  if (compiled.has(key)) return compiled.get(key)!;
  let validate: ValidateFunction | null;
  try {
    validate = ajv.compile(schema);
  } catch {
    // A schema we cannot compile is the server's to enforce; we do not block on it.
    validate = null;
  }
  if (compiled.size >= MAX_CACHED) compiled.delete(compiled.keys().next().value!);
  compiled.set(key, validate);
  return validate;
}

/** What is wrong with a value, in its schema's terms (`input/repo must be string`); null when it fits. */
export function schemaProblems(schema: Record<string, unknown>, value: unknown, name: string): string | null {
  const validate = validatorFor(schema);
  if (!validate || validate(value)) return null;
  return ajv.errorsText(validate.errors, { dataVar: name, separator: '; ' });
}

/** What is wrong with the arguments, in the schema's terms; null when they fit. */
export function argumentProblems(schema: Record<string, unknown>, args: Record<string, unknown>): string | null {
  if (INVALID_ARGUMENTS_KEY in args)
    return `the arguments were not a JSON object: ${String(args[INVALID_ARGUMENTS_KEY]).slice(0, 200)}`;
  if (REFUSED_ARGUMENTS_KEY in args) return String(args[REFUSED_ARGUMENTS_KEY]);
  const validate = validatorFor(schema);
  if (!validate || validate(args)) return null;
  return ajv.errorsText(validate.errors, { dataVar: 'arguments', separator: '; ' });
}
