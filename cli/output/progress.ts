/**
 * A line saying what the command waits for while something slow starts (the local
 * database: seconds). On a terminal it is one line updated in place with the seconds so far
 * and erased when done; elsewhere (a pipe, a log, a test) and with --json nothing: output
 * read by programs stays exactly the command's answer. Written to stderr.
 */

export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

const TICK_MS = 100;

/** Starts showing `label`; the returned function ends it. */
export function progressLine(
  label: string,
  stream: ProgressStream = process.stderr,
  now = () => Date.now(),
): () => void {
  if (!stream.isTTY) return () => {};
  const started = now();
  const draw = () => stream.write(`\r${label}… ${((now() - started) / 1000).toFixed(1)} s\x1b[K`);
  draw();
  const timer = setInterval(draw, TICK_MS);
  timer.unref();
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    clearInterval(timer);
    stream.write('\r\x1b[K');
  };
}

/** What a command passes as `onStarting`: a progress line, except under --json. */
export function startingLine(
  options: { json?: boolean },
  stream: ProgressStream = process.stderr,
): (() => () => void) | undefined {
  if (options.json) return undefined;
  return () => progressLine('starting the local database', stream);
}
