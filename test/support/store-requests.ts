import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { StepFunctionName } from '../../core/definitions/steps.ts';
import type { StepHandler } from '../../functions/_shared/handlers.ts';

/** DynamoDB's read operations (by the client's command name); every other command the store sends writes. */
const READ_COMMANDS = new Set([
  'GetItemCommand',
  'BatchGetItemCommand',
  'QueryCommand',
  'ScanCommand',
  'TransactGetItemsCommand',
]);

/** The store requests one step invocation made, and where its control sent the run. */
export interface StepRequests {
  step: StepFunctionName;
  reads: number;
  writes: number;
  /** Each request by command, in order (`QueryCommand`, `TransactWriteItemsCommand`, …). */
  commands: string[];
  next?: string;
}

/**
 * One loop iteration: a ModelStep that asked for tools and the ToolStep that ran them, or a
 * ModelStep that answered a turn that only reads itself (no ToolStep).
 */
export interface IterationRequests {
  reads: number;
  writes: number;
  model: StepRequests;
  tool?: StepRequests;
}

/**
 * Counts the DynamoDB requests of a local host by the step invocation that made them: wrap
 * its handlers with `wrapHandlers` and `attach` its client. The local executor runs one
 * state at a time, so every request sent while a handler runs is that handler's.
 */
export function storeRequestCounter() {
  let steps: StepRequests[] = [];
  let current: StepRequests | undefined;
  let outside = 0;
  return {
    wrapHandlers(handlers: Record<StepFunctionName, StepHandler>): Record<StepFunctionName, StepHandler> {
      const counted = {} as Record<StepFunctionName, StepHandler>;
      for (const [step, handler] of Object.entries(handlers) as Array<[StepFunctionName, StepHandler]>) {
        counted[step] = async (payload) => {
          const entry: StepRequests = { step, reads: 0, writes: 0, commands: [] };
          steps.push(entry);
          current = entry;
          try {
            const output = await handler(payload);
            entry.next = (output as { next?: string } | undefined)?.next;
            return output;
          } finally {
            current = undefined;
          }
        };
      }
      return counted;
    },
    attach(client: DynamoDBClient): void {
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const command = String(context.commandName);
          if (!current) outside += 1;
          else {
            current.commands.push(command);
            if (READ_COMMANDS.has(command)) current.reads += 1;
            else current.writes += 1;
          }
          return next(args);
        },
        { step: 'initialize', name: 'storeRequestCounter' },
      );
    },
    reset(): void {
      steps = [];
      outside = 0;
    },
    steps: () => steps,
    /** Requests made outside any step (recording the run, reading its record back). */
    outside: () => outside,
    /**
     * Each ModelStep → ToolStep pair, and each ModelStep that went on to the model (it made its
     * turn's calls itself: for agents that call a tool every turn, the only reason), in order.
     */
    iterations(): IterationRequests[] {
      return steps.flatMap((model, index) => {
        if (model.step !== 'ModelStep') return [];
        const tool = steps[index + 1];
        if (model.next === 'tools' && tool?.step === 'ToolStep')
          return [{ reads: model.reads + tool.reads, writes: model.writes + tool.writes, model, tool }];
        // Answered in the step: its commit holds the model's turn and the calls' results (core/run/tool-turn.ts).
        if (model.next === 'model') return [{ reads: model.reads, writes: model.writes, model }];
        return [];
      });
    },
  };
}
