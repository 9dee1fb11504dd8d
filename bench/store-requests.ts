import type { LocalHost } from '../cli/local/host.ts';
import type { StepFunctionName } from '../core/definitions/steps.ts';
import type { StepHandler } from '../functions/_shared/handlers.ts';
import type { storeRequestCounter } from '../test/support/store-requests.ts';

/**
 * DynamoDB requests per loop iteration, reads and writes apart, for a read-only tool
 * (bench-read: get-sum, made by the ModelStep that asked for it) and a tool that may write
 * (bench-loop: echo, made by the ModelStep after it committed the answer, claimed before and
 * recorded after). The write is measured twice more in the same run on a server declared
 * with a call timeout as long as a step (bench-loop-slow), whose turns the ToolStep makes:
 * as the steps read now, and as they read before issue 22 (the ToolStep handed no message
 * count: the record and its last turn in two Queries). Counted at the client by the step
 * invocation that sent them.
 */

const round = (n: number) => Number(n.toFixed(2));

type Handlers = Record<StepFunctionName, StepHandler>;

/** Wraps the handlers so that, while `before()` holds, the ToolStep gets its control without the message count. */
export function readingAsBefore(before: () => boolean) {
  return (handlers: Handlers): Handlers => ({
    ...handlers,
    ToolStep: (payload) => {
      if (!before()) return handlers.ToolStep(payload);
      const { messageCount: _, ...rest } = payload as { messageCount?: number };
      return handlers.ToolStep(rest);
    },
  });
}

interface Counts {
  /** One iteration: the ModelStep that asked for the tool, and the ToolStep that made it if one did. */
  reads: number;
  writes: number;
  /** The whole run's requests (StartRun, FinishRun and recording the run included) over its iterations. */
  whole_run_per_iteration: number;
}

export interface StoreRequestFigures {
  read_only: { now: Counts };
  /** `now`: made by the ModelStep; `tool_step`: made by the ToolStep; `before`: the ToolStep reading as before issue 22. */
  writing: { now: Counts; tool_step: Counts; before: Counts };
}

/**
 * A read-only iteration before the ModelStep made read-only calls itself (commit 8d835a3):
 * the ModelStep's Query and commit, then the ToolStep's BatchGetItem and commit. Not
 * measurable in the same run: that path is gone.
 */
const READ_ONLY_BEFORE = { reads: 2, writes: 2, commit: '8d835a3' } as const;

export async function storeRequestsPerIteration(
  host: LocalHost,
  counter: ReturnType<typeof storeRequestCounter>,
  setBefore: (before: boolean) => void,
): Promise<StoreRequestFigures> {
  const measure = async (agent: string, before: boolean): Promise<Counts> => {
    setBefore(before);
    counter.reset();
    try {
      await host.run({ agent, input: {} });
    } finally {
      setBefore(false);
    }
    const iterations = counter.iterations();
    const all = counter.steps().reduce((sum, step) => sum + step.reads + step.writes, counter.outside());
    const mean = (pick: (each: (typeof iterations)[number]) => number) =>
      round(iterations.reduce((sum, each) => sum + pick(each), 0) / iterations.length);
    return {
      reads: mean((each) => each.reads),
      writes: mean((each) => each.writes),
      whole_run_per_iteration: round(all / iterations.length),
    };
  };
  return {
    read_only: { now: await measure('bench-read', false) },
    writing: {
      now: await measure('bench-loop', false),
      tool_step: await measure('bench-loop-slow', false),
      before: await measure('bench-loop-slow', true),
    },
  };
}

const TARGETS = { read_only: 3, writing: 5 } as const;

export function storeRequestsMarkdown(figures: StoreRequestFigures): string {
  const row = (name: string, kind: keyof StoreRequestFigures, before: string) => {
    const { now } = figures[kind];
    const total = now.reads + now.writes;
    const verdict = total <= TARGETS[kind] ? 'met' : 'not met';
    return `| ${name} | ${now.reads} | ${now.writes} | **${round(total)}** (target ≤ ${TARGETS[kind]}: ${verdict}) | ${now.whole_run_per_iteration} | ${before} |`;
  };
  const { before, tool_step: viaToolStep } = figures.writing;
  const counted = (c: Counts) =>
    `${c.reads} + ${c.writes} = ${round(c.reads + c.writes)} (whole run ${c.whole_run_per_iteration})`;
  const writingBefore = `${counted(before)}, measured`;
  const readOnlyBefore = `${READ_ONLY_BEFORE.reads} + ${READ_ONLY_BEFORE.writes} = ${READ_ONLY_BEFORE.reads + READ_ONLY_BEFORE.writes} in two steps (commit ${READ_ONLY_BEFORE.commit})`;
  return `
### DynamoDB requests per iteration, reads and writes apart

One iteration is a ModelStep that asks for one tool call and the step that makes it, counted at the client by the step that sent each request (the counts are the code's, not the machine's: \`test/integration/store-requests.test.ts\` asserts them). The ModelStep makes the turn it asked for (core/run/tool-turn.ts): a read-only call before its commit, in the commit that stores the model's answer; a call that may write after that commit, claimed before and recorded after, with a second commit for its result. The writing tool's "before" is measured in the same run on a server declared with a call timeout as long as a step (bench-loop-slow, whose turns the ToolStep makes) with the ToolStep handed no message count, which makes it read as it did before issue 22 (the record and its last turn in two Queries).

| tool | reads | writes | per iteration | whole run, per iteration (start and finish included) | before |
|---|---|---|---|---|---|
${row('read-only (get-sum)', 'read_only', readOnlyBefore)}
${row('may write (echo)', 'writing', writingBefore)}

A read-only iteration is one step: one read (a consistent Query of the record and the conversation; the snapshot only the first time a container meets the run, as it never changes), one commit, one Lambda invocation and two state transitions (ModelStep, Route). A crash before its commit retries the whole step, the model call and the read-only calls with it.

A writing iteration is one step too: the read, the commit of the model's answer (nothing may act before it is durable: a retried ModelStep asks the model again and could act on another answer), the side-effect claim, the record of the call's outcome (which lets a crashed step replay the call exactly instead of making it twice), and the commit of its result. The second commit stores the seq the step was invoked at, so a retry after it replays its answer; a retry between the two commits replays the first (\`next: tools\`) and the ToolStep makes the call on the record, with the claim and the record it finds. test/faults/step-boundaries.test.ts crashes it before and after each of those writes.

The ToolStep still makes the turns that reach the sandbox, a skill, a sub-agent or loop memory's writes, the turns an approver decided, and those whose calls might not end in what the model call left of the step's 900 s: there a writing iteration is ${counted(viaToolStep)}, measured on bench-loop-slow (the ModelStep's read and commit, the ToolStep's BatchGetItem of the record and the last turn, claim, record and commit).
`;
}
