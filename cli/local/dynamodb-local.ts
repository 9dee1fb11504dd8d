import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ConfigurationError, errorMessage } from '../../core/errors.ts';

/**
 * Runs AWS's DynamoDB Local (the jar shipped inside the npm package
 * `amplify-dynamodb-simulator`) for the local host and the tests.
 *
 * DynamoDB Local has no option to choose the address it listens on: its Jetty server
 * binds every interface, which would put an unauthenticated database on the network.
 * So instead of `java -jar DynamoDBLocal.jar …` we start the same server through
 * Jetty's own XmlConfiguration (jetty-xml ships in DynamoDBLocal_lib): a small
 * generated XML file calls DynamoDB Local's documented embedding entry point
 * (`ServerRunner.createServerFromCommandLineArgs`, with the usual command-line flags),
 * sets the connector's host to 127.0.0.1, starts the server and joins it. That needs
 * only a Java runtime, no compiler. The server's thread pool is made daemon so that a
 * failed start (port taken) ends the JVM instead of leaving it hanging.
 */

export const MIN_JAVA_MAJOR = 17;
const HOST = '127.0.0.1';
const DEFAULT_START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_LINES = 30;
/** A free port we picked may be taken before Java binds it; try a fresh one this many times. */
const PORT_ATTEMPTS = 3;

export interface DynamoDbLocalOptions {
  /** Directory for the on-disk database (created if missing). Omit for an in-memory database. */
  dbPath?: string;
  /** Keep everything in memory (the default when no dbPath is given). */
  inMemory?: boolean;
  /** 0 or omitted: pick a free port on 127.0.0.1. */
  port?: number;
  /** The Java launcher to run; `java` from PATH by default. */
  javaCommand?: string;
  /** How long to wait for the first answer. */
  startTimeoutMs?: number;
}

export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  pid: number;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
  stop(): Promise<void>;
}

export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  if (options.inMemory && options.dbPath) {
    throw new ConfigurationError('DynamoDB Local: choose either inMemory or dbPath, not both');
  }
  const javaCommand = options.javaCommand ?? 'java';
  await requireJava(javaCommand);
  const emulatorDir = findEmulator();
  const dbPath = options.dbPath === undefined ? undefined : path.resolve(options.dbPath);
  if (dbPath) await mkdir(dbPath, { recursive: true });

  const fixedPort = options.port ? options.port : undefined;
  // Checked first: otherwise whatever already listens there would answer our readiness probe.
  if (fixedPort !== undefined && !(await isPortFree(fixedPort))) {
    throw new ConfigurationError(`DynamoDB Local cannot listen on ${HOST}:${fixedPort}: the port is in use`);
  }
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await findFreePort());
    try {
      return await launch({
        javaCommand,
        emulatorDir,
        port,
        dbPath,
        startTimeoutMs: options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
      });
    } catch (error) {
      const retry = error instanceof PortTakenError && fixedPort === undefined && attempt < PORT_ATTEMPTS;
      if (!retry) throw error;
    }
  }
}

/**
 * Resolves once DynamoDB at `endpoint` answers a ListTables call; throws after
 * `timeoutMs`, or as soon as `signal` aborts (e.g. the process exited).
 */
export async function waitForDynamoDb(
  endpoint: string,
  timeoutMs = DEFAULT_START_TIMEOUT_MS,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  try {
    while (Date.now() < deadline) {
      options.signal?.throwIfAborted();
      // A refused connection fails at once; this only bounds a request the server accepted.
      // Its very first answer is slow (seconds on a busy machine), so allow for that.
      const remaining = Math.max(1, deadline - Date.now());
      const attempt = AbortSignal.timeout(Math.min(10_000, remaining));
      const abortSignal = options.signal ? AbortSignal.any([options.signal, attempt]) : attempt;
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal });
        return;
      } catch (error) {
        lastError = errorMessage(error);
      }
      await sleep(100, undefined, options.signal ? { signal: options.signal } : undefined).catch(() => {});
    }
  } finally {
    client.destroy();
  }
  options.signal?.throwIfAborted();
  throw new Error(`DynamoDB at ${endpoint} did not answer within ${timeoutMs} ms (last error: ${lastError})`);
}

/** Checks that `javaCommand` runs and is Java 17 or newer; returns its major version. */
export async function requireJava(javaCommand = 'java'): Promise<number> {
  let output: string;
  try {
    output = await runJavaVersion(javaCommand);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT'
        ? `\`${javaCommand}\` was not found`
        : `\`${javaCommand} -version\` failed (${errorMessage(error)})`;
    throw new ConfigurationError(`${javaRequirement()}, but ${problem}. ${JAVA_INSTALL_HINT}`);
  }
  const major = parseJavaMajor(output);
  if (major === undefined) {
    throw new ConfigurationError(
      `${javaRequirement()}, but could not read the version from \`${javaCommand} -version\`: ${output.trim().slice(0, 200)}. ${JAVA_INSTALL_HINT}`,
    );
  }
  if (major < MIN_JAVA_MAJOR) {
    throw new ConfigurationError(`${javaRequirement()}, but \`${javaCommand}\` is Java ${major}. ${JAVA_INSTALL_HINT}`);
  }
  return major;
}

export const JAVA_INSTALL_HINT =
  'Install Java 17 or newer, e.g. `sudo apt-get install openjdk-17-jre-headless` (Debian/Ubuntu), ' +
  '`brew install openjdk@17` (macOS) or any Java 17+ distribution, and put its `java` on PATH.';

function javaRequirement(): string {
  return `DynamoDB Local (the local database used by \`looprail dev\` and the tests) needs Java ${MIN_JAVA_MAJOR} or newer`;
}

/** `openjdk version "17.0.15"`, `java version "1.8.0_422"`, `openjdk version "21" 2023-09-19`. */
export function parseJavaMajor(versionOutput: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

function runJavaVersion(javaCommand: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // `java -version` writes to stderr.
    execFile(javaCommand, ['-version'], { timeout: 15_000 }, (error, stdout, stderr) => {
      if (error) reject(error);
      else resolve(`${stderr}${stdout}`);
    });
  });
}

function findEmulator(): string {
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve('amplify-dynamodb-simulator/package.json');
  } catch {
    throw new ConfigurationError(
      'DynamoDB Local is not installed: the npm package amplify-dynamodb-simulator (which ships it) is missing. Run `npm install`.',
    );
  }
  const emulatorDir = path.join(path.dirname(packageJson), 'emulator');
  if (!existsSync(path.join(emulatorDir, 'DynamoDBLocal.jar'))) {
    throw new ConfigurationError(
      `DynamoDB Local's jar is missing from ${emulatorDir}. Reinstall with \`npm install\`.`,
    );
  }
  return emulatorDir;
}

/** Listens on `port` (0: any) for a moment; returns the port, or undefined when it is taken. */
async function tryListen(port: number): Promise<number | undefined> {
  const server = createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => resolve(true));
  });
  if (!listening) return undefined;
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address !== null && typeof address !== 'string' ? address.port : undefined;
}

async function isPortFree(port: number): Promise<boolean> {
  return (await tryListen(port)) !== undefined;
}

async function findFreePort(): Promise<number> {
  const port = await tryListen(0);
  if (port === undefined) throw new Error(`could not find a free port on ${HOST}`);
  return port;
}

class PortTakenError extends Error {
  override name = 'PortTakenError';
}

interface LaunchSpec {
  javaCommand: string;
  emulatorDir: string;
  port: number;
  dbPath: string | undefined;
  startTimeoutMs: number;
}

async function launch(spec: LaunchSpec): Promise<DynamoDbLocal> {
  const { javaCommand, emulatorDir, port, dbPath } = spec;
  const endpoint = `http://${HOST}:${port}`;
  const flags = [
    '-sharedDb',
    '-disableTelemetry',
    '-port',
    String(port),
    ...(dbPath ? ['-dbPath', dbPath] : ['-inMemory']),
  ];

  // A scratch directory for the XML and as the JVM's working directory (DynamoDB Local
  // drops files there); removed once the JVM has exited.
  const workDir = await mkdtemp(path.join(tmpdir(), 'looprail-dynamodb-'));
  const configFile = path.join(workDir, 'dynamodb-local.xml');
  await writeFile(configFile, jettyConfig(flags));

  const lib = path.join(emulatorDir, 'DynamoDBLocal_lib');
  const child = spawn(
    javaCommand,
    [
      `-Djava.library.path=${lib}`,
      '-cp',
      [path.join(emulatorDir, 'DynamoDBLocal.jar'), path.join(lib, '*')].join(path.delimiter),
      'org.eclipse.jetty.xml.XmlConfiguration',
      configFile,
    ],
    {
      cwd: workDir,
      // -disableTelemetry alone does not stop the server's start-up telemetry; this does.
      env: { ...process.env, DDB_LOCAL_TELEMETRY: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Not detached: same process group as ours, so Ctrl+C in a terminal reaches Java too.
    },
  );
  const output = new OutputTail(OUTPUT_TAIL_LINES);
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk));

  const exited = processExit(child).then(() => rm(workDir, { recursive: true, force: true }));
  // If our process ends without calling stop(), do not leave a JVM (or its scratch files) behind.
  const killOnParentExit = (): void => {
    child.kill('SIGKILL');
    rmSync(workDir, { recursive: true, force: true });
  };
  process.on('exit', killOnParentExit);
  void exited.then(() => process.off('exit', killOnParentExit));

  const gone = new AbortController();
  void exited.then(() => gone.abort());
  try {
    await waitForDynamoDb(endpoint, spec.startTimeoutMs, { signal: gone.signal });
  } catch (error) {
    const exit = child.exitCode ?? child.signalCode;
    await stopProcess(child, exited);
    const tail = output.text();
    if (output.sawBindFailure) {
      throw new PortTakenError(`DynamoDB Local could not listen on ${HOST}:${port}: the port is in use`);
    }
    const what =
      exit !== null
        ? `exited (${exit}) before it answered on ${endpoint}`
        : `did not answer on ${endpoint} within ${spec.startTimeoutMs} ms (${errorMessage(error)})`;
    throw new Error(`DynamoDB Local ${what}. Its last output:\n${tail || '(none)'}`);
  }

  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    port,
    pid: child.pid ?? -1,
    stop: () => (stopping ??= stopProcess(child, exited)),
  };
}

/** Resolves when the process has exited, or when it never started (spawn error). */
function processExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => {
      if (child.pid === undefined) resolve();
    });
  });
}

async function stopProcess(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    child.kill('SIGTERM');
    const forceKill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(forceKill);
  }
  await exited;
}

/**
 * Jetty XmlConfiguration script: create the server exactly as `java -jar` would, bind it
 * to 127.0.0.1, start it, and block the main thread until it stops.
 */
function jettyConfig(flags: string[]): string {
  const items = flags.map((flag) => `        <Item>${escapeXml(flag)}</Item>`).join('\n');
  return `<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<!-- Generated by looprail (cli/local/dynamodb-local.ts): DynamoDB Local bound to ${HOST}. -->
<Configure class="java.lang.Object">
  <Call id="proxy" class="com.amazonaws.services.dynamodbv2.local.main.ServerRunner" name="createServerFromCommandLineArgs">
    <Arg>
      <Array type="java.lang.String">
${items}
      </Array>
    </Arg>
  </Call>
  <!-- DynamoDBProxyServer keeps its Jetty server in a private field. -->
  <Call class="java.lang.Class" name="forName">
    <Arg>com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer</Arg>
    <Call id="serverField" name="getDeclaredField"><Arg>server</Arg></Call>
  </Call>
  <Ref refid="serverField"><Call name="setAccessible"><Arg type="boolean">true</Arg></Call></Ref>
  <Ref refid="serverField"><Call id="jetty" name="get"><Arg><Ref refid="proxy"/></Arg></Call></Ref>
  <Ref refid="jetty"><Call id="connectors" name="getConnectors"/></Ref>
  <Call class="java.lang.reflect.Array" name="get">
    <Arg><Ref refid="connectors"/></Arg>
    <Arg type="int">0</Arg>
    <Set name="host">${HOST}</Set>
  </Call>
  <Ref refid="jetty"><Get name="threadPool"><Set name="daemon" type="boolean">true</Set></Get></Ref>
  <Ref refid="proxy"><Call name="start"/></Ref>
  <Ref refid="proxy"><Call name="join"/></Ref>
</Configure>
`;
}

function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

/**
 * The last lines a process printed, for error messages, and whether it ever failed to
 * bind its port. Java stack frames (`\tat …`, `… 23 more`) are dropped: the exception and
 * `Caused by:` lines say what went wrong, the frames only push them out of the tail.
 */
class OutputTail {
  sawBindFailure = false;
  private lines: string[] = [];
  private partial = '';
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  push(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = parts.pop() ?? '';
    // Looked for in every line: the cause sits in the middle of a long Java stack trace.
    if (parts.some((line) => /BindException|Failed to bind/.test(line))) this.sawBindFailure = true;
    this.lines.push(...parts.filter((line) => !/^\s+(at |\.\.\. \d+ more)/.test(line)));
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }

  text(): string {
    return [...this.lines, this.partial].filter((line) => line.trim() !== '').join('\n');
  }
}
