import { createRequire, registerHooks } from 'node:module';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Imported first (`--import`) by a process that runs a Lambda bundle as Lambda's Node
 * runtimes (18 and later) do: they search NODE_PATH for ES module imports too, which plain
 * Node does not, and that is how a bundle's `import … from '@aws-sdk/…'` finds the SDK the
 * runtime carries (infra/constructs/handler-function.ts leaves it out of the bundles). A bare
 * specifier the default resolution cannot find is looked up in NODE_PATH's folders.
 */
const folders = (process.env.NODE_PATH ?? '').split(delimiter).filter(Boolean);
if (folders.length > 0) {
  const fromNodePath = createRequire(join(folders[0]!, 'runtime.js'));
  registerHooks({
    resolve(specifier, context, nextResolve) {
      try {
        return nextResolve(specifier, context);
      } catch (error) {
        if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND' || /^[./]|^\w+:/.test(specifier)) throw error;
        return { url: pathToFileURL(fromNodePath.resolve(specifier, { paths: folders })).href, shortCircuit: true };
      }
    },
  });
}
