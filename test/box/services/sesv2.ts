import { randomUUID } from 'node:crypto';
import { arn, type BoxService, type CallContext, jsonAnswer, jsonBody, ServiceError } from './wire.ts';

/**
 * SESv2 (REST-JSON, signing name `ses`): SendEmail authorized as SES does — `ses:SendEmail` on
 * the verified identity the From address sends as (the address itself if verified, else its
 * domain), plus the configuration set when one is named — and refused with MessageRejected when
 * the sender (or, in the sandbox, a recipient) is not verified. Sent mails are kept for tests.
 */

export interface SesOptions {
  /** Verified identities: email addresses and domains. */
  identities: string[];
  /** The SES sandbox: recipients must be verified too. Default false (production access). */
  sandbox?: boolean;
  /** Where sent mails are kept (default: a new list, read it from `sentMails`). */
  sent?: SentMail[];
}

/** The account's identities, for a test to change: an unverified one exists but is PENDING and cannot send. */
export interface SesIdentities {
  verify(identity: string): void;
  unverify(identity: string): void;
}

export interface SentMail {
  messageId: string;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
  text?: string;
  html?: string;
  /** A Raw message's MIME text, as sent. */
  raw?: string;
  configurationSet?: string;
}

const SEND = /^\/v2\/email\/outbound-emails$/;
const IDENTITY = /^\/v2\/email\/identities\/([^/]+)$/;

export function sesService(
  options: SesOptions | undefined,
): BoxService & { sentMails: SentMail[]; identities: SesIdentities } {
  const sentMails = options?.sent ?? [];
  const verified = new Set((options?.identities ?? []).map((each) => each.toLowerCase()));
  const pending = new Set<string>();
  const identities = {
    includes: (identity: string) => verified.has(identity),
    verify(identity: string) {
      pending.delete(identity.toLowerCase());
      verified.add(identity.toLowerCase());
    },
    unverify(identity: string) {
      verified.delete(identity.toLowerCase());
      pending.add(identity.toLowerCase());
    },
  };
  const verifiedAs = (address: string) => {
    const lower = address.toLowerCase();
    if (identities.includes(lower)) return lower;
    const domain = lower.split('@')[1];
    return domain && identities.includes(domain) ? domain : undefined;
  };
  return {
    name: 'sesv2',
    signingName: 'ses',
    protocol: 'restJson',
    sentMails,
    identities,
    operation(request) {
      if (request.method === 'POST' && SEND.test(request.path)) return 'SendEmail';
      if (request.method === 'GET' && IDENTITY.test(request.path)) return 'GetEmailIdentity';
      if (request.method === 'GET' && request.path === '/v2/email/account') return 'GetAccount';
      return undefined;
    },
    async handle(operation: string, call: CallContext) {
      const identityArn = (identity: string) => arn(call.account, 'ses', `identity/${identity}`);
      if (operation === 'GetAccount') {
        await call.authorize('ses:GetAccount', ['*']);
        return jsonAnswer('restJson', {
          ProductionAccessEnabled: !options?.sandbox,
          SendingEnabled: true,
          EnforcementStatus: 'HEALTHY',
          DedicatedIpAutoWarmupEnabled: false,
          SendQuota: { Max24HourSend: 50000, MaxSendRate: 14, SentLast24Hours: sentMails.length },
        });
      }
      if (operation === 'GetEmailIdentity') {
        const identity = decodeURIComponent(IDENTITY.exec(call.request.path)![1]!);
        await call.authorize('ses:GetEmailIdentity', [identityArn(identity)]);
        const ok = identities.includes(identity.toLowerCase());
        if (!ok && !pending.has(identity.toLowerCase())) {
          throw new ServiceError('NotFoundException', `Email identity ${identity} does not exist.`, 404);
        }
        return jsonAnswer('restJson', {
          IdentityType: identity.includes('@') ? 'EMAIL_ADDRESS' : 'DOMAIN',
          VerifiedForSendingStatus: ok,
          VerificationStatus: ok ? 'SUCCESS' : 'PENDING',
          FeedbackForwardingStatus: true,
        });
      }
      return sendEmail(call, { verifiedAs, identityArn, sandbox: options?.sandbox ?? false, sentMails });
    },
  };
}

async function sendEmail(
  call: CallContext,
  ses: {
    verifiedAs: (address: string) => string | undefined;
    identityArn: (identity: string) => string;
    sandbox: boolean;
    sentMails: SentMail[];
  },
) {
  const body = jsonBody(call.request);
  const raw = body.Content?.Raw?.Data
    ? Buffer.from(String(body.Content.Raw.Data), 'base64').toString('utf8')
    : undefined;
  const from = plainAddress(String(body.FromEmailAddress ?? (raw ? headerOf(raw, 'from') : '') ?? ''));
  const identity = ses.verifiedAs(from);
  const resources = [ses.identityArn(identity ?? from)];
  if (body.ConfigurationSetName)
    resources.push(arn(call.account, 'ses', `configuration-set/${body.ConfigurationSetName}`));
  await call.authorize('ses:SendEmail', resources);
  const rejected = (address: string) =>
    new ServiceError(
      'MessageRejected',
      `Email address is not verified. The following identities failed the check in region ${call.account.region.toUpperCase()}: ${address}`,
    );
  if (!identity) throw rejected(from);
  const destination = body.Destination ?? {};
  const to: string[] = destination.ToAddresses ?? [];
  const cc: string[] = destination.CcAddresses ?? [];
  const bcc: string[] = destination.BccAddresses ?? [];
  if (ses.sandbox) {
    const unverified = [...to, ...cc, ...bcc].find((address) => !ses.verifiedAs(plainAddress(address)));
    if (unverified) throw rejected(unverified);
  }
  const simple = body.Content?.Simple;
  const messageId = `0100${randomUUID().replaceAll('-', '')}-000000`;
  ses.sentMails.push({
    messageId,
    from,
    to,
    cc,
    bcc,
    subject: simple?.Subject?.Data ?? (raw ? (headerOf(raw, 'subject') ?? '') : ''),
    ...(simple?.Body?.Text?.Data !== undefined ? { text: simple.Body.Text.Data } : {}),
    ...(simple?.Body?.Html?.Data !== undefined ? { html: simple.Body.Html.Data } : {}),
    ...(raw ? { raw } : {}),
    ...(body.ConfigurationSetName ? { configurationSet: body.ConfigurationSetName } : {}),
  });
  return jsonAnswer('restJson', { MessageId: messageId });
}

/** `Name <a@b>` → `a@b`. */
function plainAddress(value: string): string {
  return (/<([^>]+)>/.exec(value)?.[1] ?? value).trim();
}

function headerOf(mime: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(mime)?.[1]?.trim();
}
