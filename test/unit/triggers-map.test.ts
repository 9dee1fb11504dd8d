import { describe, expect, it } from 'vitest';
import { TRIGGER_KINDS, TriggerKind, triggerKindsWith } from '../../core/definitions/trigger-kinds.ts';
import { ValidationError } from '../../core/errors.ts';
import { runIdFor } from '../../core/run/ids.ts';
import {
  eventRunRequest,
  scheduleDedupeKey,
  scheduleRunRequest,
  webhookRunRequest,
} from '../../core/run/triggers-map.ts';

describe('schedule → RunRequest', () => {
  it('maps a Scheduler invocation to one run per agent and scheduled time', () => {
    expect(scheduleRunRequest({ agent: 'nightly', scheduledTime: '2025-03-30T06:00:00Z' })).toEqual({
      agent: 'nightly',
      input: { scheduledTime: '2025-03-30T06:00:00.000Z' },
      principal: 'schedule:nightly',
      trigger: { kind: 'schedule', detail: '2025-03-30T06:00:00.000Z' },
      dedupeKey: 'schedule:nightly:2025-03-30T06:00:00.000Z',
    });
  });

  it('gives the same key to the same instant however it is written', () => {
    const key = scheduleDedupeKey('nightly', '2025-03-30T06:00:00Z');
    expect(scheduleDedupeKey('nightly', '2025-03-30T06:00:00.000Z')).toBe(key);
    expect(scheduleDedupeKey('nightly', '2025-03-30T08:00:00+02:00')).toBe(key);
    expect(scheduleDedupeKey('nightly', '2025-03-30T06:01:00Z')).not.toBe(key);
    expect(scheduleDedupeKey('other', '2025-03-30T06:00:00Z')).not.toBe(key);
  });

  it('refuses a malformed invocation with a ValidationError naming the problem', () => {
    expect(() => scheduleRunRequest({ agent: 'nightly' })).toThrow(ValidationError);
    expect(() => scheduleRunRequest({ agent: 'nightly', scheduledTime: 'yesterday' })).toThrow(
      /scheduledTime: expected an ISO 8601 time/,
    );
    expect(() => scheduleRunRequest({ agent: '', scheduledTime: '2025-03-30T06:00:00Z' })).toThrow(/agent/);
    expect(() => scheduleRunRequest(null)).toThrow(ValidationError);
  });
});

describe('EventBridge event → RunRequest', () => {
  const event = {
    agent: 'on-deploy',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    source: 'acme.deploy',
    'detail-type': 'Deployment Finished',
    detail: { service: 'shop', status: 'failed' },
    time: '2025-03-30T06:00:00Z',
  };

  it('maps the event to a run keyed by its id, with detail, source and detail-type as input', () => {
    expect(eventRunRequest(event)).toEqual({
      agent: 'on-deploy',
      input: {
        source: 'acme.deploy',
        'detail-type': 'Deployment Finished',
        detail: { service: 'shop', status: 'failed' },
      },
      principal: 'event:on-deploy',
      trigger: { kind: 'event', detail: 'acme.deploy Deployment Finished 6a7e8feb-b491-4cf7-a9f1-bf3703467718' },
      dedupeKey: 'event:6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    });
  });

  it('gives an event without detail an empty one, and refuses one without an id', () => {
    const { detail: _detail, ...bare } = event;
    expect(eventRunRequest(bare).input).toEqual({
      source: 'acme.deploy',
      'detail-type': 'Deployment Finished',
      detail: {},
    });
    const { id: _id, ...noId } = event;
    expect(() => eventRunRequest(noId)).toThrow(/id/);
  });
});

describe('webhook delivery → RunRequest', () => {
  it('maps a delivery to a run keyed by its delivery id, principal webhook:<agent>', () => {
    expect(
      webhookRunRequest({ agent: 'on-push', event: 'push', deliveryId: 'd-1', body: { ref: 'refs/heads/main' } }),
    ).toEqual({
      agent: 'on-push',
      input: { ref: 'refs/heads/main' },
      principal: 'webhook:on-push',
      trigger: { kind: 'webhook', detail: 'push d-1' },
      dedupeKey: 'webhook:d-1',
    });
    expect(webhookRunRequest({ agent: 'on-push', event: undefined, deliveryId: 'd-1', body: {} }).trigger.detail).toBe(
      'webhook d-1',
    );
  });

  it('never maps two kinds of trigger to the same run id', () => {
    const id = 'same-id';
    const keys = [
      webhookRunRequest({ agent: 'a', event: 'push', deliveryId: id, body: {} }).dedupeKey!,
      eventRunRequest({ agent: 'a', id, source: 's', 'detail-type': 't' }).dedupeKey!,
      id,
    ];
    expect(new Set(keys.map((key) => runIdFor('a', key))).size).toBe(3);
  });
});

describe('trigger kinds', () => {
  it('are one record: the enum, the untrusted kinds and the unannounced ones derive from it', () => {
    expect(TriggerKind.options).toEqual(Object.keys(TRIGGER_KINDS));
    expect(triggerKindsWith('untrustedInput')).toEqual(['event', 'webhook']);
    expect(TriggerKind.options.filter((kind) => !TRIGGER_KINDS[kind].announced)).toEqual(['mcp']);
    expect(TriggerKind.options.filter((kind) => !TRIGGER_KINDS[kind].listFilter)).toEqual(['subagent']);
  });
});
