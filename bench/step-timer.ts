import { performance } from 'node:perf_hooks';
import type { StepFunctionName } from '../core/definitions/steps.ts';
import type { StepHandler } from '../functions/_shared/handlers.ts';

/**
 * Wraps the step handlers to measure what each invocation would bill on Lambda: the time
 * from the handler's start to its return (Lambda rounds up to 1 ms), per function.
 */
export function stepTimer() {
  let invocations: Array<{ step: StepFunctionName; ms: number }> = [];
  return {
    wrap(handlers: Record<StepFunctionName, StepHandler>): Record<StepFunctionName, StepHandler> {
      const timed = {} as Record<StepFunctionName, StepHandler>;
      for (const [step, handler] of Object.entries(handlers) as Array<[StepFunctionName, StepHandler]>) {
        timed[step] = async (payload) => {
          const start = performance.now();
          try {
            return await handler(payload);
          } finally {
            invocations.push({ step, ms: performance.now() - start });
          }
        };
      }
      return timed;
    },
    reset() {
      invocations = [];
    },
    /** Per step: invocations, total billed ms (each rounded up to 1 ms) and the median. */
    byStep() {
      const steps: Partial<Record<StepFunctionName, { invocations: number; billed_ms: number; p50_ms: number }>> = {};
      for (const step of new Set(invocations.map((entry) => entry.step))) {
        const times = invocations
          .filter((entry) => entry.step === step)
          .map((entry) => entry.ms)
          .sort((a, b) => a - b);
        steps[step] = {
          invocations: times.length,
          billed_ms: times.reduce((sum, ms) => sum + Math.ceil(ms), 0),
          p50_ms: Number(times[Math.floor(times.length / 2)]!.toFixed(2)),
        };
      }
      return steps;
    },
  };
}
