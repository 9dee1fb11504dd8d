import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { ConfigurationError, TransientError, ValidationError } from '../../core/errors.ts';
import type { Mailer, MailMessage } from '../../core/ports/mail.ts';
import { NodeSha256 } from '../http/node-sha256.ts';

/**
 * The Mailer on AWS: Amazon SES v2 `SendEmail` (simple content: subject, text and HTML),
 * called over HTTPS with SigV4 (the SES SDK client is not a dependency; this is its wire
 * format). The sender comes from the stack (CDK context `approvalSender`), and must be a
 * verified SES identity: a missing sender fails at start, an unverified one with a clear
 * error naming it.
 */

export interface SesMailerOptions {
  /** A bare address on a verified SES identity: `looprail@example.com`. */
  from: string | undefined;
  region: string;
  /** For tests: a local endpoint that speaks SES v2. Default: `https://email.<region>.amazonaws.com`. */
  endpoint?: string;
  credentials?: AwsCredentialIdentityProvider;
  fetch?: typeof fetch;
}

const ADDRESS = /^[^\s<>()",;:@\\]+@[^\s<>()",;:@\\]+$/;

export class SesMailer implements Mailer {
  readonly #from: string;
  readonly #endpoint: URL;
  readonly #signer: SignatureV4;
  readonly #fetch: typeof fetch;

  constructor(options: SesMailerOptions) {
    if (!options.from) throw new ConfigurationError('no sender for approval mail: set the CDK context `approvalSender` to an address on a verified SES identity');
    if (!ADDRESS.test(options.from)) throw new ConfigurationError(`the mail sender "${options.from}" is not a plain email address`);
    this.#from = options.from;
    this.#endpoint = new URL('/v2/email/outbound-emails', options.endpoint ?? `https://email.${options.region}.amazonaws.com`);
    this.#signer = new SignatureV4({ service: 'ses', region: options.region, credentials: options.credentials ?? fromNodeProviderChain(), sha256: NodeSha256 });
    this.#fetch = options.fetch ?? fetch;
  }

  async send(message: MailMessage): Promise<{ messageId: string }> {
    if (message.to.length === 0) throw new ValidationError('a message needs at least one recipient');
    for (const address of message.to) if (!ADDRESS.test(address)) throw new ValidationError('a recipient is not a plain email address');
    const body = JSON.stringify({
      FromEmailAddress: this.#from,
      Destination: { ToAddresses: message.to },
      Content: {
        Simple: {
          Subject: { Data: message.subject.replace(/[\r\n]+/g, ' '), Charset: 'UTF-8' },
          Body: { Text: { Data: message.text, Charset: 'UTF-8' }, ...(message.html === undefined ? {} : { Html: { Data: message.html, Charset: 'UTF-8' } }) },
        },
      },
    });
    const url = this.#endpoint;
    const signed = await this.#signer.sign({
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      headers: { host: url.host, 'content-type': 'application/json' },
      body,
    });
    let response: Response;
    try {
      response = await this.#fetch(url, { method: 'POST', headers: signed.headers as Record<string, string>, body });
    } catch (error) {
      throw new TransientError(`could not reach SES at ${url.host}: ${(error as Error).message}`);
    }
    const text = await response.text();
    let parsed: { MessageId?: string; message?: string; Message?: string } = {};
    try {
      parsed = text ? (JSON.parse(text) as typeof parsed) : {};
    } catch {
      // An answer that is not JSON: the status says enough.
    }
    if (response.ok && parsed.MessageId) return { messageId: parsed.MessageId };
    const type = (response.headers.get('x-amzn-errortype') ?? '').split(':')[0] ?? '';
    const said = (parsed.message ?? parsed.Message ?? '').slice(0, 300);
    if (type === 'MessageRejected' || type === 'MailFromDomainNotVerifiedException' || /not verified/i.test(said)) {
      throw new ConfigurationError(`SES refused to send from ${this.#from}: ${said || type} (verify the sender's identity in SES, or set the CDK context approvalSender to a verified one)`);
    }
    if (response.status === 429 || response.status >= 500) throw new TransientError(`SES answered ${response.status} ${type}: try again`);
    throw new Error(`SES SendEmail failed with ${response.status} ${type}: ${said}`);
  }
}
