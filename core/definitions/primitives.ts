import * as z from './zod.ts';

/** Shared building blocks for the definition schemas. */

export const NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

/** A lower-case, hyphenated name: agents, servers, models, skills, secrets. */
export const Name = z
  .string({ error: 'expected a name (lower-case letters, digits and hyphens)' })
  .check(
    z.regex(
      NAME_PATTERN,
      'expected a name of lower-case letters, digits and hyphens, starting with a letter (at most 63 characters)',
    ),
  );

/** Secret names follow Secrets Manager's rules, minus characters that would need escaping in ARNs. */
export const SecretName = z
  .string({ error: 'expected a secret name' })
  .check(z.regex(/^[A-Za-z0-9][A-Za-z0-9/_+=.@-]{0,255}$/, 'expected a secret name (letters, digits and /_+=.@-)'));

/**
 * A positive whole number. YAML 1.2 reads `1_500_000` as a string, but people write
 * large limits that way (the product brief does), so digits with underscores are accepted.
 */
export const Count = z.pipe(
  z.transform((value: unknown) =>
    typeof value === 'string' && /^[0-9][0-9_]*$/.test(value) ? Number(value.replaceAll('_', '')) : value,
  ),
  z
    .number({ error: 'expected a positive whole number (underscores allowed, e.g. 1_500_000)' })
    .check(z.int('expected a whole number'), z.positive('expected a number greater than 0')),
);

/**
 * How a YAML file may write a value where that differs from the JSON Schema zod derives
 * from its parsed type: the editor schemas and the field reference use this form instead
 * (cli/schema/json-schemas.ts). Refined or described copies of a schema inherit its entry.
 */
export const yamlForms = z.registry<{ jsonSchema: Record<string, unknown> }>();
yamlForms.add(Count, {
  jsonSchema: {
    anyOf: [
      { type: 'integer', exclusiveMinimum: 0 },
      { type: 'string', pattern: '^[0-9][0-9_]*$', description: 'digits with underscores, e.g. 1_500_000' },
    ],
  },
});

export const Usd = z
  .number({ error: 'expected an amount in USD, e.g. 2.50' })
  .check(z.positive('expected an amount greater than 0'), z.maximum(1_000_000, 'expected at most 1,000,000 USD'));

const DURATION = /^(\d+)(s|m|h|d)$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** `45s`, `30m`, `2h`, `3d` → seconds. */
export const Duration = z
  .pipe(
    z
      .string({ error: 'expected a duration such as 30s, 15m, 2h or 3d' })
      .check(z.regex(DURATION, 'expected a duration such as 30s, 15m, 2h or 3d')),
    z.transform((text: string) => {
      const [, amount, unit] = DURATION.exec(text)!;
      return Number(amount) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
    }),
  )
  .check(z.refine((seconds) => seconds > 0, 'expected a duration greater than zero'));

/** `name@version` or `./file.md@version`: a pinned, versioned reference. */
export interface VersionedRef {
  target: string;
  version: string;
}

const REF = /^(.+)@([A-Za-z0-9][A-Za-z0-9._-]*)$/;

export function versionedRef(what: string) {
  return z.pipe(
    z
      .string({ error: `expected ${what}@version` })
      .check(z.regex(REF, `expected ${what}@version (the version pin is required, e.g. @v1)`)),
    z.transform((text: string): VersionedRef => {
      const [, target, version] = REF.exec(text)!;
      return { target: target!, version: version! };
    }),
  );
}

/** Versions compare without a leading "v": `v2` pins a skill whose front matter says `2`. */
export function sameVersion(a: string, b: string): boolean {
  return a.replace(/^v/i, '') === b.replace(/^v/i, '');
}
