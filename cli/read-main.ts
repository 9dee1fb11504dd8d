import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { registerReadCommands } from './commands/reads.ts';

/**
 * `looprail runs|trace|costs`, loaded by bin/looprail.js instead of cli/main.ts: the same
 * commands (cli/commands/reads.ts) without loading the whole CLI (a second of imports).
 */

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command()
  .name('looprail')
  .version(version, '-V, --version', 'print the version')
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });
registerReadCommands(
  program,
  new Option('--state-dir <dir>', 'where local runs keep their state').default('.looprail'),
);

program.parseAsync(process.argv).catch((error: unknown) => {
  const err = error as Error;
  console.error(`looprail: ${err.message}`);
  if (process.env.LOOPRAIL_DEBUG) console.error(err.stack);
  process.exitCode = 1;
});
