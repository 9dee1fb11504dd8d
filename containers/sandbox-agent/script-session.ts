import type { ScriptResult, ScriptToolResult, ToolBridge } from '../../core/ports/sandbox.ts';
import type { ScriptEvent } from '../../adapters/sandbox/protocol.ts';
import { badRequest } from './http.ts';

/** A script's rounds: the calls it asks for, reported once each; results handed back; its end. */
export class ScriptSession {
  readonly id: string;
  ended = false;
  #callCount = 0;
  readonly #waiting = new Map<string, (result: ScriptToolResult) => void>();
  readonly #issued = new Set<string>();
  #unreported: Array<{ callId: string; name: string; arguments: Record<string, unknown> }> = [];
  #done: { value: ScriptResult; durationMs: number; usedMs: number } | undefined;
  #failure: unknown;
  #wake: Array<() => void> = [];

  constructor(id: string) {
    this.id = id;
  }

  readonly bridge: ToolBridge = (call) =>
    new Promise((resolve) => {
      const callId = `c${++this.#callCount}`;
      this.#issued.add(callId);
      this.#waiting.set(callId, resolve);
      this.#unreported.push({ callId, name: call.name, arguments: call.arguments });
      this.#notify();
    });

  finish(done: { value: ScriptResult; durationMs: number; usedMs: number }): void {
    this.#done = done;
    this.#end();
  }

  fail(error: unknown): void {
    this.#failure = error;
    this.#end();
  }

  /** Results of calls it asked for; a result given twice (a retried request) or after the script ended is ignored. */
  answer(results: Array<{ callId: string; content: string; isError: boolean }>): void {
    const unknown = results.find((result) => !this.#issued.has(result.callId));
    if (unknown) throw badRequest(`results.callId: script ${this.id} asked for no call ${unknown.callId.slice(0, 64)}`);
    for (const result of results) {
      const resolve = this.#waiting.get(result.callId);
      if (!resolve) continue;
      this.#waiting.delete(result.callId);
      resolve({ content: result.content, isError: result.isError });
    }
  }

  /** The next event: at once if there is one, else when one comes or waitMs passes. */
  async next(waitMs: number): Promise<ScriptEvent> {
    const now = this.#event();
    if (now) return now;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, waitMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake.push(done);
    });
    return this.#event() ?? { state: 'running', scriptId: this.id };
  }

  #event(): ScriptEvent | undefined {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#done) return { state: 'done', scriptId: this.id, ...this.#done };
    if (this.#unreported.length === 0) return undefined;
    const calls = this.#unreported;
    this.#unreported = [];
    return { state: 'calls', scriptId: this.id, calls };
  }

  #end(): void {
    this.ended = true;
    this.#waiting.clear();
    this.#notify();
  }

  /** Wakes a waiting poll after this turn of the event loop, so calls a script makes together are reported together. */
  #notify(): void {
    setImmediate(() => {
      const wake = this.#wake;
      this.#wake = [];
      for (const done of wake) done();
    });
  }
}
