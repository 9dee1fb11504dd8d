/** Events the runtime emits (`looprail.run.*`): EventBridge on AWS, the local event log locally. */
export interface RuntimeEvent {
  type: 'looprail.run.started' | 'looprail.run.paused' | 'looprail.run.finished' | 'looprail.budget.threshold';
  runId: string;
  agent: string;
  detail: Record<string, unknown>;
}

export interface EventPublisher {
  publish(event: RuntimeEvent): Promise<void>;
}
