import type { Catalog } from '../definitions/catalog.ts';
import type { AgentView } from '../definitions/context.ts';
import { identityName } from '../definitions/identity.ts';
import type { Clock, IdGenerator } from '../ports/clock.ts';
import type { ModelProviders } from '../ports/models.ts';
import type { RunStore } from '../ports/run-store.ts';
import type { SecretStore } from '../ports/secrets.ts';
import type { EventPublisher, RuntimeEvent } from '../ports/events.ts';
import type { WebhookPoster } from '../ports/webhooks.ts';
import type { Mailer } from '../ports/mail.ts';
import type { ApprovalDeps } from '../approvals/deps.ts';
import type { MetricsSink } from '../ports/metrics.ts';
import type { CustomRuleRegistry } from '../guardrails/types.ts';
import type { ToolGateway } from '../ports/tools.ts';
import type { RunTelemetry } from '../ports/telemetry.ts';
import type { SandboxProvider } from '../ports/sandbox.ts';
import type { SkillStore } from '../ports/skill-store.ts';
import type { MemoryStore } from '../ports/memory-store.ts';
import type { ChildRuns } from '../ports/child-runs.ts';
import type { ResultStore } from '../ports/result-store.ts';
import type { Logger } from '../ports/logger.ts';
import type { KnownSecrets } from '../guardrails/known-secrets.ts';

/** The clients that act with an agent's own identity (its secrets, its model access). */
export interface AgentScope {
  tools: ToolGateway;
  providers: ModelProviders;
  /** The secrets as this identity can read them (only its own). */
  secrets?: SecretStore;
}

/** What the steps need from the outside world; the composition root supplies it. */
export interface RunDeps {
  store: RunStore;
  /** By provider name, one for each the models schema allows. */
  providers: ModelProviders;
  tools: ToolGateway;
  clock: Clock;
  ids: IdGenerator;
  /** Only starting a run reads the catalog; every later step reads the run's snapshot. */
  catalog: () => Promise<Catalog>;
  log: Logger;
  /** The team's own guardrail rules, by the names policies use (guardrails/rules.ts). */
  guardrailRules: CustomRuleRegistry;
  /** Where `looprail.run.*` events go (EventBridge on AWS, the local event log); none if absent. */
  events?: EventPublisher;
  /** For alerts and notifications that name a webhook URL. */
  webhooks?: WebhookPoster;
  /** For alerts and notifications that name an email address. */
  mailer?: Mailer;
  /** Approval links (signing key by name, base URL), fallback approvers, and (approval handler only) the task sender. */
  approvals?: ApprovalDeps;
  /** Spend per call for dashboards and alarms (EMF on AWS). */
  metrics?: MetricsSink;
  /** Finished runs as OpenTelemetry traces, when an OTLP endpoint is configured. */
  telemetry?: RunTelemetry;
  /** Runs' sandboxes (bubblewrap locally); a sandbox call fails with a clear message where none is configured. */
  sandboxes?: SandboxProvider;
  /** The skills registry (on the run table): runs mount and load their pinned skill versions from it. */
  skills?: SkillStore;
  /** Loop memory (the run table): the ledger tools and the handoff note of agents that declare `memory:`. */
  memory?: MemoryStore;
  /** Runs a delegated sub-agent's run as its own execution of the state machine; delegation is refused without it. */
  children?: ChildRuns;
  /** Where large tool results are offloaded (the run table); without it they are cut with a marker. */
  results?: ResultStore;
  /**
   * On AWS: clients acting as the agent's (or sub-agent's) own role, with the run id as
   * the session name. Absent locally, where the core enforces the same grants.
   */
  scopeFor?: (identity: string, runId: string) => AgentScope;
  /**
   * Every secret value this process has read (the composition root reads them through
   * `recordingSecrets`); with it, every port is redacted (core/run/redacting-deps.ts).
   */
  knownSecrets?: KnownSecrets;
}

export function scoped(
  deps: Pick<RunDeps, 'scopeFor' | 'tools' | 'providers'>,
  view: AgentView,
  runId: string,
): AgentScope {
  return (
    deps.scopeFor?.(identityName(view.agent, view.subagent), runId) ?? { tools: deps.tools, providers: deps.providers }
  );
}

/**
 * Runtime events are notifications, not state: a failure to publish one is logged and
 * never fails the step that committed the change it announces.
 */
export async function publish(deps: Pick<RunDeps, 'events' | 'log'>, event: RuntimeEvent): Promise<void> {
  if (!deps.events) return;
  try {
    await deps.events.publish(event);
  } catch (error) {
    deps.log.warn('could not publish a runtime event', {
      type: event.type,
      runId: event.runId,
      error: (error as Error).message,
    });
  }
}
