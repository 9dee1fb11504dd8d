import { Count } from './primitives.ts';
import * as z from './zod.ts';

/**
 * `agent.sandbox`: a workspace of the run's own where the loop checks out code, runs it
 * and tests it. Created on the run's first sandbox call, destroyed when the run ends; it
 * holds none of the loop's credentials and reaches only what `network` allows.
 * Its tools are served by looprail's built-in `sandbox` server (core/sandbox/tools.ts).
 */

/** A path inside the workspace: relative, no `..`, no NUL. */
export const WorkspacePath = z.string({ error: 'expected a path relative to the workspace, such as src/app.ts' }).check(
  z.minLength(1, 'expected a path relative to the workspace, such as src/app.ts'),
  z.maxLength(1024, 'expected a path of at most 1024 characters'),
  z.refine((path) => !path.startsWith('/') && !path.split('/').includes('..') && !path.includes('\0'), {
    error: 'expected a path relative to the workspace, without a leading / or any ..',
  }),
);

const HOST_PATTERN = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(:\d{1,5})?$/;

export const NetworkPolicy = z
  .union(
    [
      z.literal('none'),
      z.strictObject({
        allow: z
          .array(
            z
              .string()
              .check(
                z.regex(
                  HOST_PATTERN,
                  'expected a host name such as registry.npmjs.org, *.github.com or example.com:443',
                ),
              ),
          )
          .check(
            z.minLength(1, 'expected at least one host (or network: none)'),
            z.describe(
              'Hosts (with an optional :port, or a leading `*.` for subdomains) the sandbox may reach; nothing else.',
            ),
          ),
      }),
    ],
    { error: 'expected none, or { allow: [host, …] }' },
  )
  .check(z.describe('What the sandbox may reach: none, or { allow: [host, …] }.'));
export type NetworkPolicy = z.infer<typeof NetworkPolicy>;

export const CopyIn = z
  .strictObject({
    repository: z
      .optional(
        z
          .strictObject({
            path: z
              .optional(WorkspacePath)
              .check(z.describe('A folder in the org repository, relative to the org folder.')),
            url: z
              .optional(z.url({ protocol: /^(https|file)$/, error: 'expected an https:// or file:// repository URL' }))
              .check(z.describe('A repository URL the host clones from (https:// or file://).')),
            ref: z
              ._default(
                z
                  .string()
                  .check(
                    z.regex(
                      /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/,
                      'expected a branch, tag or commit, such as main or v1.2.0',
                    ),
                  ),
                'HEAD',
              )
              .check(z.describe('The branch, tag or commit to check out.')),
          })
          .check(
            z.refine((repository) => (repository.path === undefined) !== (repository.url === undefined), {
              error: 'expected exactly one of path or url',
            }),
          ),
      )
      .check(
        z.describe(
          'A git repository (or a plain folder, committed as the starting point) and the ref to check out: exactly one of path or url.',
        ),
      ),
    files: z
      ._default(
        z.array(
          z.strictObject({
            path: WorkspacePath.check(z.describe('Where the file is written in the workspace.')),
            from_input: z
              .string()
              .check(
                z.regex(
                  /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
                  'expected a dotted path into the input, such as issue.body',
                ),
                z.describe("A dotted path into the run's input, such as patch or issue.body."),
              ),
          }),
        ),
        [],
      )
      .check(z.describe("Values from the run's input written as files: a string as it is, anything else as JSON.")),
  })
  .check(z.describe('What the workspace starts with.'));
export type CopyIn = z.infer<typeof CopyIn>;

export const SandboxSpec = z.strictObject({
  image: z
    ._default(
      z
        .string()
        .check(
          z.regex(
            /^[a-z0-9][a-z0-9._/:@-]{0,254}$/,
            'expected a container image such as public.ecr.aws/docker/library/node:22-bookworm',
          ),
        ),
      'public.ecr.aws/docker/library/node:22-bookworm',
    )
    .check(
      z.describe(
        "The container image the sandbox runs on AWS. Locally the host's own /usr is mounted read-only instead, and the image is only recorded.",
      ),
    ),
  cpu: z
    ._default(
      z
        .number({ error: 'expected a number of vCPUs, such as 0.5 or 2' })
        .check(z.minimum(0.25, 'expected at least 0.25 vCPU'), z.maximum(16, 'expected at most 16 vCPUs')),
      1,
    )
    .check(z.describe('vCPUs (0.25 to 16).')),
  memory_mb: z
    ._default(Count.check(z.refine((mb) => mb >= 64 && mb <= 65_536, 'expected 64 to 65536 MB')), 1024)
    .check(z.describe('Memory in MB (64 to 65536).')),
  disk_mb: z
    ._default(Count.check(z.refine((mb) => mb <= 204_800, 'expected at most 204800 MB')), 1024)
    .check(z.describe('Workspace disk in MB (at most 204800).')),
  command_timeout_seconds: z
    ._default(
      Count.check(z.refine((s) => s <= 840, 'expected at most 840 seconds (a tool step may take 900 s in all)')),
      300,
    )
    .check(
      z.describe('Longest one command may run (at most 840); it is killed, with everything it started, after this.'),
    ),
  run_timeout_seconds: z
    ._default(Count.check(z.refine((s) => s <= 86_400, 'expected at most 86400 seconds')), 1800)
    .check(z.describe("Sandbox seconds (the sum of its commands' time) one run may use.")),
  max_output_bytes: z
    ._default(Count.check(z.refine((n) => n <= 1_048_576, 'expected at most 1048576 bytes')), 65_536)
    .check(z.describe('Output kept per command (stdout and stderr together); the rest is drained and dropped.')),
  max_processes: z
    ._default(Count.check(z.refine((n) => n >= 8 && n <= 4096, 'expected 8 to 4096')), 256)
    .check(z.describe('Processes the sandbox may run at once (a fork bomb stops here).')),
  max_script_tool_calls: z
    ._default(Count.check(z.refine((n) => n <= 1000, 'expected at most 1000 calls')), 50)
    .check(z.describe('Tool calls one run_code script may make (code mode); past this each call is refused.')),
  network: z._default(NetworkPolicy, 'none'),
  copy_in: z._default(CopyIn, { files: [] }),
});
export type SandboxSpec = z.infer<typeof SandboxSpec>;

/** What sandbox time costs: `models.yaml` `sandbox:` (seconds × this price). */
export const SandboxPricing = z.strictObject({
  price_per_hour_usd: z
    .number({ error: 'expected USD per sandbox hour, such as 0.05' })
    .check(
      z.minimum(0, 'expected 0 or more'),
      z.describe("USD per hour of sandbox time (the sum of its commands' time)."),
    ),
});
export type SandboxPricing = z.infer<typeof SandboxPricing>;

/** The reserved name of looprail's own sandbox server. */
export const SANDBOX_SERVER = 'sandbox';
