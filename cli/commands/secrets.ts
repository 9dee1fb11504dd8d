import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Command, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SecretsFile } from '../../core/definitions/org.ts';
import { formatProblem } from '../../core/definitions/problems.ts';
import { parseYaml, validateWith } from '../../core/definitions/yaml-source.ts';
import { setLocalSecret } from '../../adapters/secrets/local-secrets.ts';
import { writeSecretsManagerSecret } from '../../adapters/secrets/secrets-manager-writer.ts';

/**
 * `looprail secrets set <name>`: the value from standard input (never the command line, which
 * shells keep in their history and other users see in the process list), stored where the
 * runtime reads it: the local host's secrets file, or with `--aws` the Secrets Manager secret
 * of that name the deployed stack reads. Only names the org declares in secrets.yaml.
 */

type Log = (line: string) => void;

export interface SetSecretOptions {
  org: string;
  stateDir: string;
  aws?: boolean;
  region?: string;
  stdin: AsyncIterable<string | Buffer> & { isTTY?: boolean };
  log: Log;
  /** For tests; by default a client for `--region` (or the SDK's default Region) and credentials. */
  client?: SecretsManagerClient;
}

interface DeclaredSecrets {
  /** `agents/secrets.yaml:3`: where the `secrets:` mapping is. */
  where: string;
  descriptions: Map<string, string | undefined>;
}

export async function setSecretCommand(name: string, options: SetSecretOptions): Promise<void> {
  const declared = await declaredSecrets(options.org);
  if (!declared.descriptions.has(name)) {
    const names = [...declared.descriptions.keys()].sort();
    throw new Error(
      `secret "${name}" is not declared in ${declared.where} (declared: ${names.join(', ') || 'none'}); declare it there by name, never its value, then set it`,
    );
  }
  const value = await readValue(options.stdin, name);
  if (options.aws) {
    const client = options.client ?? new SecretsManagerClient(options.region ? { region: options.region } : {});
    const written = await writeSecretsManagerSecret(client, {
      name,
      value,
      description: declared.descriptions.get(name),
    });
    const region = await client.config.region();
    options.log(`✓ secret "${name}" ${written.created ? 'created' : 'updated'} in AWS Secrets Manager (${region})`);
    return;
  }
  const file = join(resolve(options.stateDir), 'secrets.json');
  await setLocalSecret(file, name, value);
  options.log(`✓ secret "${name}" set in ${file} (local runs read it; LOOPRAIL_SECRET_* variables override it)`);
}

/** The names the org's secrets.yaml declares, with where the declarations are. */
async function declaredSecrets(org: string): Promise<DeclaredSecrets> {
  for (const fileName of ['secrets.yaml', 'secrets.yml']) {
    const file = join(org, fileName);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const parsed = parseYaml({ file, text }, 'a mapping with `secrets:`');
    if (!parsed.ok) throw new Error(parsed.problems.map(formatProblem).join('\n'));
    const validated = validateWith(SecretsFile, parsed.parsed);
    if (!validated.ok) throw new Error(validated.problems.map(formatProblem).join('\n'));
    const entries = Object.entries(validated.value.secrets).map(([key, entry]) => [key, entry.description] as const);
    return { where: `${file}:${parsed.parsed.locate(['secrets'], true).line}`, descriptions: new Map(entries) };
  }
  throw new Error(`no secrets.yaml in ${org}: declare each secret there by name (never its value), then set it`);
}

/** All of standard input, less the one line ending `echo` or a file adds. */
async function readValue(stdin: SetSecretOptions['stdin'], name: string): Promise<string> {
  if (stdin.isTTY)
    throw new Error(
      `pipe the value of "${name}" on standard input (e.g. \`looprail secrets set ${name} < file\`): a value typed on the command line stays in shell history`,
    );
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  const value = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (value === '') throw new Error(`no value for "${name}" on standard input; nothing was set`);
  return value;
}

export function registerSecretsCommand(program: Command, stateDirOption: Option): void {
  const secrets = program.command('secrets').description('the values of the secrets the org declares in secrets.yaml');
  secrets
    .command('set')
    .description(
      'set a declared secret from standard input: for local runs, or with --aws in the Secrets Manager secret the deployed stack reads',
    )
    .argument('<name>', 'a secret name declared in the org folder secrets.yaml')
    .option('--org <dir>', 'the org folder with the definitions', 'agents')
    .addOption(stateDirOption)
    .option('--aws', 'create or update the AWS Secrets Manager secret of that name (the deployed stack reads it)')
    .option('--region <region>', 'the Region of the deployed stack (default: the AWS SDK default)')
    .action(async (name: string, options: { org: string; stateDir: string; aws?: boolean; region?: string }) => {
      await setSecretCommand(name, { ...options, stdin: process.stdin, log: (line) => console.log(line) });
    });
}
