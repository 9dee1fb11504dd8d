import type { SESv2Client } from '@aws-sdk/client-sesv2';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { ConfigurationError, TransientError, ValidationError } from '../../core/errors.ts';
import type { Mailer, MailMessage } from '../../core/ports/mail.ts';
import { onFirstUse } from '../aws/on-first-use.ts';

/**
 * The Mailer on AWS: Amazon SES v2 `SendEmail` (simple content: subject, text and HTML)
 * through the SDK v3 client. The sender comes from the stack (CDK context
 * `approvalSender`), and must be a verified SES identity: a missing sender fails at
 * start, an unverified one with a clear error naming it.
 */

export interface SesMailerOptions {
  /** A bare address on a verified SES identity: `looprail@example.com`. */
  from: string | undefined;
  region: string;
  /** For tests: a local endpoint that speaks SES v2. */
  endpoint?: string;
  credentials?: AwsCredentialIdentityProvider;
  client?: SESv2Client;
}

const ADDRESS = /^[^\s<>()",;:@\\]+@[^\s<>()",;:@\\]+$/;

export class SesMailer implements Mailer {
  readonly #from: string;
  readonly #client: () => Promise<SESv2Client>;

  constructor(options: SesMailerOptions) {
    if (!options.from)
      throw new ConfigurationError(
        'no sender for approval mail: set the CDK context `approvalSender` to an address on a verified SES identity',
      );
    if (!ADDRESS.test(options.from))
      throw new ConfigurationError(`the mail sender "${options.from}" is not a plain email address`);
    this.#from = options.from;
    const { region, endpoint, credentials } = options;
    this.#client = onFirstUse(
      async () =>
        new (await import('@aws-sdk/client-sesv2')).SESv2Client({ region, endpoint, credentials, maxAttempts: 1 }),
      options.client,
    );
  }

  async send(message: MailMessage): Promise<{ messageId: string }> {
    if (message.to.length === 0) throw new ValidationError('a message needs at least one recipient');
    for (const address of message.to)
      if (!ADDRESS.test(address)) throw new ValidationError('a recipient is not a plain email address');
    const { SendEmailCommand } = await import('@aws-sdk/client-sesv2');
    const client = await this.#client();
    const command = new SendEmailCommand({
      FromEmailAddress: this.#from,
      Destination: { ToAddresses: message.to },
      Content: {
        Simple: {
          Subject: { Data: message.subject.replace(/[\r\n]+/g, ' '), Charset: 'UTF-8' },
          Body: {
            Text: { Data: message.text, Charset: 'UTF-8' },
            ...(message.html === undefined ? {} : { Html: { Data: message.html, Charset: 'UTF-8' } }),
          },
        },
      },
    });
    try {
      const sent = await client.send(command);
      if (!sent.MessageId) throw new Error('SES SendEmail answered without a MessageId');
      return { messageId: sent.MessageId };
    } catch (error) {
      const failure = error as Error & { $metadata?: { httpStatusCode?: number }; $fault?: string };
      const said = (failure.message ?? '').slice(0, 300);
      if (
        failure.name === 'MessageRejected' ||
        failure.name === 'MailFromDomainNotVerifiedException' ||
        /not verified/i.test(said)
      ) {
        throw new ConfigurationError(
          `SES refused to send from ${this.#from}: ${said || failure.name} (verify the sender's identity in SES, or set the CDK context approvalSender to a verified one)`,
        );
      }
      const status = failure.$metadata?.httpStatusCode;
      if (failure.name === 'TooManyRequestsException' || failure.$fault === 'server' || status === undefined)
        throw new TransientError(`SES SendEmail failed (${failure.name}): try again`);
      throw new Error(`SES SendEmail failed with ${status} ${failure.name}: ${said}`);
    }
  }
}
