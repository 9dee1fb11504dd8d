import { describe, expect, it } from 'vitest';
import { modelToolSchema } from '../../core/policy/model-tool-schema.ts';
import { visibleTools } from '../../core/policy/visible-tools.ts';
import { toolPin } from '../../core/policy/tool-pins.ts';

describe('a tool schema as the model is sent it', () => {
  it('drops $schema and $comment at every depth, and keeps every other keyword', () => {
    const published = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      $comment: 'generated',
      type: 'object',
      properties: {
        path: { type: 'string', description: 'where', $comment: 'x' },
        list: { type: 'array', items: { $schema: 'x', type: 'string' } },
        tuple: { type: 'array', items: [{ $comment: 'a', type: 'number' }] },
        choice: { anyOf: [{ $comment: 'c', type: 'string' }, { type: 'null' }] },
        nested: { type: 'object', additionalProperties: { $comment: 'y', type: 'integer' } },
      },
      $defs: { node: { $comment: 'z', type: 'object' } },
      required: ['path'],
      additionalProperties: false,
    };
    expect(modelToolSchema(published)).toEqual({
      type: 'object',
      properties: {
        path: { type: 'string', description: 'where' },
        list: { type: 'array', items: { type: 'string' } },
        tuple: { type: 'array', items: [{ type: 'number' }] },
        choice: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        nested: { type: 'object', additionalProperties: { type: 'integer' } },
      },
      $defs: { node: { type: 'object' } },
      required: ['path'],
      additionalProperties: false,
    });
  });

  it('never touches a property named like a keyword, nor values such as enum, const, default and examples', () => {
    const published = {
      type: 'object',
      properties: { $schema: { type: 'string' }, $comment: { const: { $comment: 'kept' } } },
      default: { $schema: 'kept' },
      examples: [{ $comment: 'kept' }],
      enum: [{ $schema: 'kept' }],
    };
    expect(modelToolSchema(published)).toEqual(published);
  });

  it('passes a schema deeper than any real one on as published, without walking it', () => {
    let deep: Record<string, unknown> = { $comment: 'bottom', type: 'string' };
    for (let i = 0; i < 10_000; i++) deep = { type: 'array', items: deep };
    expect(() => modelToolSchema(deep)).not.toThrow();
  });

  it('is what visibleTools shows the model, while the pin stays that of the published schema', () => {
    const descriptor = {
      name: 'read',
      description: 'reads',
      inputSchema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: {} },
    };
    const pin = toolPin(descriptor);
    const visibility = visibleTools(
      {
        grants: [{ server: 'files' }],
        servers: { files: { tools: { read: { pin } } } },
      } as never,
      { files: [descriptor] },
    );
    expect(visibility.changed).toEqual([]);
    expect(visibility.tools.map((tool) => tool.inputSchema)).toEqual([{ type: 'object', properties: {} }]);
  });
});
