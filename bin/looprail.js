#!/usr/bin/env node
// The `looprail` command. The CLI is TypeScript run by Node 22's type stripping; the
// project's devDependency on node@22 puts that Node first on PATH for npm scripts and npx.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `looprail needs Node 22.18 or newer (this is ${process.version}). Run it through npm (npx looprail …), which uses the project's Node 22.`,
  );
  process.exit(1);
}
// The read commands load only what they need (cli/read-main.ts): they answer in well under two seconds.
const reads = ['runs', 'trace', 'costs'];
if (reads.includes(process.argv[2])) await import('../cli/read-main.ts');
else await import('../cli/main.ts');
