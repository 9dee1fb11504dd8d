import { RemoteSandboxes } from '../../adapters/sandbox/remote.ts';
import type { SandboxClient } from './runtime.ts';

/**
 * Run sandboxes through the broker (one Lambda Invoke per call): only the steps that use or
 * destroy them import this (`lambdaDeps({ sandboxes: SANDBOX_CLIENT })`), so the Lambda
 * client stays out of the other bundles.
 */
export const SANDBOX_CLIENT: SandboxClient = (functionName) => new RemoteSandboxes({ functionName });
