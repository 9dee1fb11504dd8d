import { SandboxSpec } from '../../core/definitions/sandbox.ts';
import * as z from '../../core/definitions/zod.ts';
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

const SandboxId = z
  .string()
  .check(z.regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, 'expected a sandbox id (the maker run id)'));
const Target = z.object({ sandboxId: SandboxId, agent: z.string().check(z.minLength(1)) });

export const BrokerRequest = z.discriminatedUnion('op', [
  z.extend(Target, { op: z.literal('open'), spec: SandboxSpec, input: z.unknown() }),
  z.extend(Target, { op: z.literal('exec'), request: ExecRequestBody }),
  z.extend(Target, { op: z.literal('read'), request: ReadRequestBody }),
  z.extend(Target, { op: z.literal('write'), request: WriteRequestBody }),
  z.extend(Target, { op: z.literal('list'), request: ListRequestBody }),
  z.extend(Target, { op: z.literal('diff'), request: DiffRequestBody }),
  z.extend(Target, { op: z.literal('script_start'), request: ScriptStartBody }),
  z.extend(Target, {
    op: z.literal('script_results'),
    scriptId: z.string().check(z.minLength(1)),
    request: ScriptResultsBody,
  }),
  z.object({ op: z.literal('destroy'), sandboxId: SandboxId }),
]);
export type BrokerRequest = z.input<typeof BrokerRequest>;

export const OpenResponse = z.object({ usedMs: z.number().check(z.int(), z.minimum(0)), createdAt: z.string() });
export const DestroyResponse = z.object({ stopped: z.number().check(z.int(), z.minimum(0)) });
