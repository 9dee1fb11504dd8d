import { ValidationError } from '../core/errors.ts';

/** Shared by the long-running commands (`dev`, `mcp-gateway`). */

export function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535)
    throw new ValidationError(`--port must be a port number from 0 to 65535 (0 picks a free one), not "${text}"`);
  return port;
}

/** Resolves on the first Ctrl-C or SIGTERM; a second Ctrl-C then ends the process at once (Node's default). */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
