import * as z from 'zod';
import { SandboxSpec } from '../../core/definitions/sandbox.ts';
import {
  DiffRequestBody,
  ExecRequestBody,
  ListRequestBody,
  ReadRequestBody,
  ScriptResultsBody,
  ScriptStartBody,
  WriteRequestBody,
} from './protocol.ts';

/**
 * What the steps (ToolStep, Verify, FinishRun, FailRun) send the sandbox broker on AWS: a Lambda
 * in the sandboxes' VPC, the only thing that can reach a sandbox container
 * (functions/sandbox/broker.ts). The steps stay outside the VPC; the broker holds no
 * table access and none of the agents' secrets. One Lambda Invoke per request.
 *
 * The answer is the sandbox agent's own answer for that operation (protocol.ts), or for
 * `open` `{ usedMs }` and for `destroy` `{ stopped }`. A failure is a Lambda function
 * error whose errorType is the error's name (e.g. `looprail.SandboxUnavailable`).
 */

const SandboxId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, 'expected a sandbox id (the maker run id)');
const Target = z.object({ sandboxId: SandboxId, agent: z.string().min(1) });

export const BrokerRequest = z.discriminatedUnion('op', [
  Target.extend({ op: z.literal('open'), spec: SandboxSpec, input: z.unknown() }),
  Target.extend({ op: z.literal('exec'), request: ExecRequestBody }),
  Target.extend({ op: z.literal('read'), request: ReadRequestBody }),
  Target.extend({ op: z.literal('write'), request: WriteRequestBody }),
  Target.extend({ op: z.literal('list'), request: ListRequestBody }),
  Target.extend({ op: z.literal('diff'), request: DiffRequestBody }),
  Target.extend({ op: z.literal('script_start'), request: ScriptStartBody }),
  Target.extend({ op: z.literal('script_results'), scriptId: z.string().min(1), request: ScriptResultsBody }),
  z.object({ op: z.literal('destroy'), sandboxId: SandboxId }),
]);
export type BrokerRequest = z.input<typeof BrokerRequest>;

export const OpenResponse = z.object({ usedMs: z.number().int().min(0), createdAt: z.string() });
export const DestroyResponse = z.object({ stopped: z.number().int().min(0) });
