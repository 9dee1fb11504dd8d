import { ValidationError } from '../core/errors.ts';

/** Shared by the long-running commands (`dev`, `mcp-gateway`, `console`). */

export function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535)
    throw new ValidationError(`--port must be a port number from 0 to 65535 (0 picks a free one), not "${text}"`);
  return port;
}

/** Why a long-running command stops: a signal, or the npm/npx process that started it went away. */
export type StopCause = NodeJS.Signals | 'its parent (npx or npm) exited';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The exit status of a command stopped by Ctrl-C: 128 + SIGINT, as shells report it. */
export const INTERRUPTED_EXIT = 130;
const PARENT_CHECK_MS = 500;

export interface StopWatch {
  /** Resolves with the first cause. */
  stopped: Promise<StopCause>;
  /** Whether it has resolved already (a signal during start-up). */
  fired(): boolean;
}

/**
 * Watches for what should stop a long-running command: Ctrl-C, SIGTERM or SIGHUP (a
 * second Ctrl-C then ends the process at once, Node's default) — and, when npx or `npm
 * run` started it, the end of that parent. npm passes a SIGTERM to the shell it started,
 * not to us: without this we would live on, orphaned, with DynamoDB Local and the MCP
 * servers. Started before anything else, so a signal during start-up also stops cleanly
 * (Node's default would end the process without stopping its children).
 */
export function watchStop(env: NodeJS.ProcessEnv = process.env): StopWatch {
  let fired = false;
  const stopped = new Promise<StopCause>((resolve) => {
    const parent = process.ppid;
    const underNpm = env.npm_command === 'exec' || env.npm_command === 'run-script';
    const timer = underNpm
      ? setInterval(() => {
          if (process.ppid !== parent) stop('its parent (npx or npm) exited');
        }, PARENT_CHECK_MS).unref()
      : undefined;
    function stop(cause: StopCause) {
      for (const signal of SIGNALS) process.off(signal, stop);
      clearInterval(timer);
      fired = true;
      resolve(cause);
    }
    for (const signal of SIGNALS) process.on(signal, stop);
  });
  return { stopped, fired: () => fired };
}

/** Resolves on the first stop cause (see watchStop). */
export function stopSignal(): Promise<StopCause> {
  return watchStop().stopped;
}
