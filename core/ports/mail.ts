/** Outgoing mail (SES on AWS, a local outbox or SMTP locally). Used by approvals and alerts. */
export interface MailMessage {
  to: string[];
  subject: string;
  text: string;
  html?: string;
}

export interface Mailer {
  send(message: MailMessage): Promise<{ messageId: string }>;
}
