/**
 * Prompt templates (`template:<name>`): the definition every layer names. The wire form (snake
 * case) is in `src/api/templates.ts`; the rules (placeholders, parameter checks) in
 * `src/services/templates/`.
 */

export type TemplateParameterType = 'string' | 'enum' | 'integer' | 'boolean';

/** A value a parameter can take. */
export type TemplateValue = string | number | boolean;

/** One typed parameter, filled from `template_params.<name>`. */
export interface TemplateParameter {
  name: string;
  type: TemplateParameterType;
  description?: string;
  /** A request must give it (unless it has a default). */
  required: boolean;
  default?: TemplateValue;
  /** string: at most this many characters. */
  maxLength?: number;
  /** enum: the allowed values (required); string: optional allow-list. */
  values?: string[];
  /** integer: bounds, inclusive. */
  min?: number;
  max?: number;
}

/** Sampling settings the template fixes; a client's own apply where the template sets none. */
export interface TemplateSampling {
  temperature?: number;
  topP?: number;
  maxTokens?: number;
}

/** One version of a template. */
export interface TemplateDefinition {
  description?: string;
  /** The real model that answers. */
  model: string;
  /** The system message, with `{{placeholders}}`. */
  system?: string;
  /** The user message, with `{{placeholders}}`; `{{input}}` is the client's message. */
  user: string;
  parameters: TemplateParameter[];
  sampling: TemplateSampling;
}

export interface TemplateRecord {
  id: string;
  name: string;
  /** Null: global (everyone allowed to use its model); else the owning group (course). */
  groupId: string | null;
  version: number;
  definition: TemplateDefinition;
  /** ISO 8601 UTC. */
  createdAt: string;
  updatedAt: string;
}

export interface TemplateVersionRecord {
  version: number;
  definition: TemplateDefinition;
  createdAt: string;
}
