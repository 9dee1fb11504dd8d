import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

/**
 * The one zod every schema in looprail is built with: zod/mini, with English messages,
 * imported as `import * as z from '.../core/definitions/zod.ts'` (a namespace import, so
 * esbuild keeps only the functions used; a re-exported `z` value would keep all of zod,
 * every locale included). Mini's schemas are plain data with functions around them
 * instead of objects carrying dozens of methods, so a Lambda bundle carries about a third
 * less of zod and a cold start builds its schemas in half the time (docs/architecture.md,
 * "One application, two hosts"). Mini loads no locale of its own: this module sets
 * English before any schema parses, which is why nothing imports zod but this module.
 */
config(en());

export * from 'zod/mini';
/**
 * What a failed `parse` throws, for `instanceof`. Exported by name because reaching any of
 * zod's core as a value (`z.core.$ZodError`, `instanceof z.core.$ZodDefault`) makes esbuild
 * keep the whole `core` namespace, every locale with it; a schema's kind is `_zod.def.type`.
 */
export { $ZodError } from 'zod/v4/core';
