import { stepHandlers } from '../_shared/handlers.ts';
import { lambdaDeps } from '../_shared/runtime.ts';

/** The FailRun state's Lambda: a thin entry over the shared step handler. */
export const handler = stepHandlers(lambdaDeps).FailRun;
