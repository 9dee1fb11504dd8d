import type { BoxAccount } from '../model.ts';
import { arn, type BoxService, type CallContext, jsonAnswer, jsonBody, ServiceError } from './wire.ts';

/**
 * Bedrock Runtime Converse (REST-JSON, `POST /model/{modelId}/converse`, signing name `bedrock`):
 * bedrock:InvokeModel on the model the call names — a foundation model
 * (`arn:aws:bedrock:<region>::foundation-model/<id>`) or an inference profile in the account
 * (`…:inference-profile/<id>`, which AWS also checks on the foundation model it routes to) —
 * then the box's `BedrockBackend` (a fake model server).
 */

export interface BedrockBackend {
  /** Answers a Converse request (its JSON body) with Converse's JSON response; throws errors named as Bedrock names them. */
  converse(modelId: string, request: Record<string, unknown>): Promise<Record<string, unknown>>;
}

const CONVERSE = /^\/model\/([^/]+)\/converse$/;
/** Cross-Region inference profile ids start with a geography: `us.anthropic.claude-…`. */
const PROFILE = /^(us|eu|apac|us-gov|global)\.(.+)$/;

/** The ARNs IAM checks for a Converse call on this model id. */
export function modelResources(account: BoxAccount, modelId: string): string[] {
  const foundation = (id: string) => `arn:${account.partition}:bedrock:${account.region}::foundation-model/${id}`;
  if (modelId.startsWith('arn:')) {
    const profile = /:inference-profile\/(.+)$/.exec(modelId)?.[1];
    const routed = profile ? PROFILE.exec(profile)?.[2] : undefined;
    return routed ? [modelId, foundation(routed)] : [modelId];
  }
  const profile = PROFILE.exec(modelId);
  if (!profile) return [foundation(modelId)];
  return [arn(account, 'bedrock', `inference-profile/${modelId}`), foundation(profile[2]!)];
}

export function bedrockService(backend: BedrockBackend | undefined): BoxService {
  return {
    name: 'bedrock',
    signingName: 'bedrock',
    protocol: 'restJson',
    operation: (request) => (request.method === 'POST' && CONVERSE.test(request.path) ? 'Converse' : undefined),
    async handle(_operation: string, call: CallContext) {
      if (!backend) throw new ServiceError('UnknownOperationException', 'the box has no Bedrock backend');
      const modelId = decodeURIComponent(CONVERSE.exec(call.request.path)![1]!);
      for (const resource of modelResources(call.account, modelId)) {
        await call.authorize('bedrock:InvokeModel', [resource]);
      }
      try {
        return jsonAnswer('restJson', await backend.converse(modelId, jsonBody(call.request)));
      } catch (error) {
        const failure = error as Error;
        throw new ServiceError(failure.name === 'Error' ? 'ModelErrorException' : failure.name, failure.message, 400);
      }
    },
  };
}
