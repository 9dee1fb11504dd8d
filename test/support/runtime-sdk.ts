import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Lambda's Node runtime for the bundles the tests run outside Lambda: what it carries in
 * /var/runtime/node_modules (the AWS SDK v3, `@aws-sdk/*`), here as links to the project's
 * copies, and its way of resolving them (runtime-sdk-resolve.ts). Any other module missing
 * from a bundle still fails, as it would there.
 */

const PROJECT_MODULES = fileURLToPath(new URL('../../node_modules/', import.meta.url));

/** The module a process running a bundle imports first: `node --import <this> …`. */
export const RUNTIME_SDK_RESOLVE = fileURLToPath(new URL('./runtime-sdk-resolve.ts', import.meta.url));

/** `<dir>/node_modules` holding `@aws-sdk/*` only: the NODE_PATH of a process that runs a bundle. */
export function runtimeSdk(dir: string): string {
  const modules = join(dir, 'node_modules');
  const sdk = join(modules, '@aws-sdk');
  mkdirSync(sdk, { recursive: true });
  for (const name of readdirSync(join(PROJECT_MODULES, '@aws-sdk'))) {
    if (!existsSync(join(sdk, name))) symlinkSync(join(PROJECT_MODULES, '@aws-sdk', name), join(sdk, name), 'dir');
  }
  return modules;
}
