import { z } from 'zod';
import type { TemplateDefinition, TemplateParameter, TemplateRecord, TemplateVersionRecord } from '../core/templates.js';

/**
 * Wire form of prompt templates: `/admin/v1/templates`, `/ui/v1/groups/<group>/templates`,
 * `/ui/v1/templates` and the YAML files of `flexi templates`. A template is used as the model
 * `template:<name>`, its parameters sent as the top-level object `template_params`.
 */

const value = z.union([z.string().max(20_000), z.number(), z.boolean()]);

export const templateParameterSchema = z.object({
  name: z.string().min(1).max(64).describe('Filled into `{{name}}`; sent as `template_params.<name>`.'),
  type: z.enum(['string', 'enum', 'integer', 'boolean']),
  description: z.string().max(500).optional(),
  required: z.boolean().optional().describe('A request must give it, unless it has a default (default false).'),
  default: value.optional(),
  max_length: z.number().int().min(1).max(100_000).optional().describe('string: at most this many characters (default 20000).'),
  values: z.array(z.string().max(200)).min(1).max(100).optional().describe('enum: the allowed values; string: an optional allow-list.'),
  min: z.number().int().optional().describe('integer: lowest allowed value.'),
  max: z.number().int().optional().describe('integer: highest allowed value.'),
}).strict();
export type TemplateParameterWire = z.infer<typeof templateParameterSchema>;

const definitionFields = {
  description: z.string().max(1000).optional(),
  model: z.string().min(1).max(256).describe('The real model that answers.'),
  system: z.string().max(50_000).optional().describe('System message with `{{placeholders}}`; replaces the client\'s.'),
  user: z.string().min(1).max(50_000).optional().describe('User message with `{{placeholders}}`; `{{input}}` is the client\'s message (default `{{input}}`).'),
  parameters: z.array(templateParameterSchema).max(32).optional(),
  sampling: z.object({
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    max_tokens: z.number().int().min(1).max(1_000_000).optional().describe('A cap: a client may ask for less, never more.'),
  }).strict().optional(),
};

/** POST /admin/v1/templates, POST /ui/v1/groups/<group>/templates, `flexi templates create`. */
export const createTemplateRequestSchema = z.object({
  name: z.string().min(1).max(64).describe('Lower-case letters, digits, `.`, `_`, `-`; the model is `template:<name>`.'),
  group: z.string().min(1).max(200).nullable().optional().describe('Owning group (course), by name or id; none: a global template (admins only).'),
  ...definitionFields,
}).strict();
export type CreateTemplateRequest = z.infer<typeof createTemplateRequestSchema>;

/** PUT …/templates/<name>: the whole new definition; saved as the next version. */
export const updateTemplateRequestSchema = z.object({
  ...definitionFields,
  version: z.number().int().min(1).optional().describe('The version this edit starts from; another one is current: 409.'),
}).strict();
export type UpdateTemplateRequest = z.infer<typeof updateTemplateRequestSchema>;

/** A template as the management API and `flexi templates … --json` show it. */
export interface TemplateWire {
  name: string;
  /** What clients send as `model`. */
  virtual_model: string;
  /** Owning group's name; null: global. */
  group: string | null;
  version: number;
  description: string | null;
  model: string;
  system: string | null;
  user: string;
  parameters: TemplateParameterWire[];
  sampling: { temperature?: number; top_p?: number; max_tokens?: number };
  created_at: string;
  updated_at: string;
  /** With `show`: every version, newest first. */
  versions?: { version: number; created_at: string; definition: Omit<TemplateWire, 'name' | 'virtual_model' | 'group' | 'version' | 'created_at' | 'updated_at' | 'versions'> }[];
}

/** A template as its users see it (`GET /ui/v1/templates`): how to call it, not how it is written. */
export type UsableTemplateWire = Pick<TemplateWire, 'name' | 'virtual_model' | 'group' | 'description' | 'parameters' | 'version'>;

/** Wire definition → canonical. */
export function toTemplateDefinition(wire: Omit<UpdateTemplateRequest, 'version'>): TemplateDefinition {
  return {
    ...(wire.description === undefined ? {} : { description: wire.description }),
    model: wire.model,
    ...(wire.system === undefined ? {} : { system: wire.system }),
    user: wire.user ?? '{{input}}',
    parameters: (wire.parameters ?? []).map((p): TemplateParameter => ({
      name: p.name, type: p.type, required: p.required ?? false,
      ...(p.description === undefined ? {} : { description: p.description }),
      ...(p.default === undefined ? {} : { default: p.default }),
      ...(p.max_length === undefined ? {} : { maxLength: p.max_length }),
      ...(p.values === undefined ? {} : { values: p.values }),
      ...(p.min === undefined ? {} : { min: p.min }),
      ...(p.max === undefined ? {} : { max: p.max }),
    })),
    sampling: {
      ...(wire.sampling?.temperature === undefined ? {} : { temperature: wire.sampling.temperature }),
      ...(wire.sampling?.top_p === undefined ? {} : { topP: wire.sampling.top_p }),
      ...(wire.sampling?.max_tokens === undefined ? {} : { maxTokens: wire.sampling.max_tokens }),
    },
  };
}

function definitionToWire(definition: TemplateDefinition) {
  return {
    description: definition.description ?? null,
    model: definition.model,
    system: definition.system ?? null,
    user: definition.user,
    parameters: definition.parameters.map((p): TemplateParameterWire => ({
      name: p.name, type: p.type, required: p.required,
      ...(p.description === undefined ? {} : { description: p.description }),
      ...(p.default === undefined ? {} : { default: p.default }),
      ...(p.maxLength === undefined ? {} : { max_length: p.maxLength }),
      ...(p.values === undefined ? {} : { values: p.values }),
      ...(p.min === undefined ? {} : { min: p.min }),
      ...(p.max === undefined ? {} : { max: p.max }),
    })),
    sampling: {
      ...(definition.sampling.temperature === undefined ? {} : { temperature: definition.sampling.temperature }),
      ...(definition.sampling.topP === undefined ? {} : { top_p: definition.sampling.topP }),
      ...(definition.sampling.maxTokens === undefined ? {} : { max_tokens: definition.sampling.maxTokens }),
    },
  };
}

/** Canonical → wire, with its group's name and, for `show`, its versions. */
export function toTemplateWire(template: TemplateRecord & { groupName: string | null; versions?: TemplateVersionRecord[] }): TemplateWire {
  return {
    name: template.name,
    virtual_model: `template:${template.name}`,
    group: template.groupName,
    version: template.version,
    ...definitionToWire(template.definition),
    created_at: template.createdAt,
    updated_at: template.updatedAt,
    ...(template.versions === undefined ? {} : {
      versions: template.versions.map((v) => ({ version: v.version, created_at: v.createdAt, definition: definitionToWire(v.definition) })),
    }),
  };
}
