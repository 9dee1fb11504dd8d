import type { LocalHost } from '../cli/local/host.ts';
import type { StepFunctionName } from '../core/definitions/steps.ts';
import type { StepHandler } from '../functions/_shared/handlers.ts';
import type { storeRequestCounter } from '../test/support/store-requests.ts';

/**
 * DynamoDB requests per loop iteration, reads and writes apart, for a read-only tool
 * (bench-read: get-sum) and a tool that may write (bench-loop: echo, claimed before and
 * recorded after), each measured twice in the same run: as the steps read now, and as they
 * read before (the ToolStep handed no message count: the record and its last turn in two
 * Queries). Counted at the client by the step invocation that sent them.
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
  /** One ModelStep that asked for the tool and the ToolStep that ran it. */
  reads: number;
  writes: number;
  /** The whole run's requests (StartRun, FinishRun and recording the run included) over its iterations. */
  whole_run_per_iteration: number;
}

export interface StoreRequestFigures {
  read_only: { now: Counts; before: Counts };
  writing: { now: Counts; before: Counts };
}

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
    read_only: { now: await measure('bench-read', false), before: await measure('bench-read', true) },
    writing: { now: await measure('bench-loop', false), before: await measure('bench-loop', true) },
  };
}

const TARGETS = { read_only: 3, writing: 5 } as const;

export function storeRequestsMarkdown(figures: StoreRequestFigures): string {
  const row = (name: string, kind: keyof StoreRequestFigures) => {
    const { now, before } = figures[kind];
    const total = now.reads + now.writes;
    const verdict = total <= TARGETS[kind] ? 'met' : 'not met';
    return `| ${name} | ${now.reads} | ${now.writes} | **${round(total)}** (target ≤ ${TARGETS[kind]}: ${verdict}) | ${now.whole_run_per_iteration} | ${before.reads} + ${before.writes} = ${round(before.reads + before.writes)} | ${before.whole_run_per_iteration} |`;
  };
  return `
### DynamoDB requests per iteration, reads and writes apart

One iteration is a ModelStep that asks for one tool call and the ToolStep that makes it, counted at the client by the step that sent each request (the counts are the code's, not the machine's: \`test/integration/store-requests.test.ts\` asserts them). "Before" is measured in the same run with the ToolStep handed no message count, which makes it read as it did before (the record and its last turn in two Queries).

| tool | reads | writes | per iteration | whole run, per iteration (start and finish included) | before: reads + writes | before: whole run |
|---|---|---|---|---|---|---|
${row('read-only (get-sum)', 'read_only')}
${row('may write (echo)', 'writing')}

Each step reads its run in one request and commits in one transaction guarded by the run's seq: the ModelStep one consistent Query (the record and the conversation; the snapshot only the first time a container meets the run, as it never changes), the ToolStep one BatchGetItem of the record and the last turn by key. A tool that may write adds its side-effect claim before the call and its record after it, which is what lets a crashed step replay the call exactly instead of making it twice (folding the record into the commit would turn a crash between the call and the commit into a call in doubt). Two steps in two Lambda functions, each reading what the other wrote and committing its own, make 2 reads and 2 writes the floor as long as only ids travel between states: 3 and 5 would take running read-only calls inside the ModelStep (one step, not two) or carrying the turn in the state payload.
`;
}
