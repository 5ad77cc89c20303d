import { FlexiError, invalidRequest } from '../../core/errors.js';
import type { TemplateDefinition, TemplateParameter, TemplateValue } from '../../core/templates.js';

/*
 * The rules of a template's text: `{{name}}` placeholders, filled in one pass. A value is
 * inserted as plain text and never scanned again, so a value that itself contains `{{…}}` (a
 * student pasting template syntax) stays exactly as sent: nothing in a value is evaluated.
 */

/** `{{ name }}`: a letter or `_`, then letters, digits, `_`; spaces inside the braces allowed. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;
const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Template names: what follows `template:` in a model name. */
export const TEMPLATE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** The placeholder the client's own message fills. */
export const INPUT = 'input';
/** A string parameter without a max length may still not exceed this. */
export const DEFAULT_MAX_LENGTH = 20_000;

/** The placeholder names in `text`, in order of first use. */
export function placeholdersOf(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((match) => match[1]!))];
}

/** `text` with each placeholder replaced by its value, in one pass (values are never re-read). */
export function fillText(text: string, values: ReadonlyMap<string, string>): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => values.get(name) ?? whole);
}

/** Throws invalid_request naming `name` when it cannot be a template's name. */
export function assertTemplateName(name: string, param = 'name'): void {
  if (!TEMPLATE_NAME.test(name)) {
    throw invalidRequest(param, `'${param}' must be 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.`);
  }
}

/**
 * Checks a definition before it is saved: every placeholder declared (or `{{input}}`), parameter
 * names unique, defaults of the declared type, an enum with values, a real model. Throws
 * invalid_request naming the field (`user`, `parameters[2].default`…).
 */
export function validateDefinition(definition: TemplateDefinition): void {
  if (/^(template|course):/i.test(definition.model)) {
    throw invalidRequest('model', `'model' must be a real model, not the virtual model '${definition.model}'.`);
  }
  const declared = new Map<string, TemplateParameter>();
  definition.parameters.forEach((parameter, index) => {
    const at = `parameters[${index}]`;
    if (!PARAMETER_NAME.test(parameter.name)) throw invalidRequest(`${at}.name`, `'${at}.name' must start with a letter or '_' and hold only letters, digits and '_' (at most 64).`);
    if (parameter.name === INPUT) throw invalidRequest(`${at}.name`, `'${at}.name': '${INPUT}' is the client's message and cannot be declared.`);
    if (declared.has(parameter.name)) throw invalidRequest(`${at}.name`, `'${at}.name': the parameter '${parameter.name}' is declared twice.`);
    validateParameter(parameter, at);
    declared.set(parameter.name, parameter);
  });
  for (const field of ['system', 'user'] as const) {
    for (const name of placeholdersOf(definition[field] ?? '')) {
      if (name !== INPUT && !declared.has(name)) {
        throw invalidRequest(field, `'${field}' uses {{${name}}}, which is not a declared parameter; declare it under 'parameters' or remove it.`);
      }
    }
  }
}

function validateParameter(parameter: TemplateParameter, at: string): void {
  if (parameter.type === 'enum' && (!parameter.values || parameter.values.length === 0)) {
    throw invalidRequest(`${at}.values`, `'${at}.values' must list the allowed values of an enum parameter.`);
  }
  if (parameter.values && parameter.type !== 'enum' && parameter.type !== 'string') {
    throw invalidRequest(`${at}.values`, `'${at}.values' is only for string and enum parameters.`);
  }
  if (parameter.maxLength !== undefined && parameter.type !== 'string') {
    throw invalidRequest(`${at}.max_length`, `'${at}.max_length' is only for string parameters.`);
  }
  if ((parameter.min !== undefined || parameter.max !== undefined) && parameter.type !== 'integer') {
    throw invalidRequest(`${at}.min`, `'${at}.min' and '${at}.max' are only for integer parameters.`);
  }
  if (parameter.min !== undefined && parameter.max !== undefined && parameter.min > parameter.max) {
    throw invalidRequest(`${at}.min`, `'${at}.min' must not be above '${at}.max'.`);
  }
  if (parameter.default !== undefined) {
    const problem = problemWith(parameter, parameter.default);
    if (problem) throw invalidRequest(`${at}.default`, `'${at}.default' ${problem}.`);
  }
}

/** Why `value` does not fit `parameter`, or undefined when it does. */
function problemWith(parameter: TemplateParameter, value: unknown): string | undefined {
  switch (parameter.type) {
    case 'string': {
      if (typeof value !== 'string') return 'must be a string';
      const max = parameter.maxLength ?? DEFAULT_MAX_LENGTH;
      if (value.length > max) return `must have at most ${max} characters`;
      if (parameter.values && !parameter.values.includes(value)) return `must be one of ${parameter.values.map((v) => JSON.stringify(v)).join(', ')}`;
      return undefined;
    }
    case 'enum':
      if (typeof value !== 'string' || !parameter.values!.includes(value)) return `must be one of ${parameter.values!.map((v) => JSON.stringify(v)).join(', ')}`;
      return undefined;
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) return 'must be an integer';
      if (parameter.min !== undefined && value < parameter.min) return `must be >= ${parameter.min}`;
      if (parameter.max !== undefined && value > parameter.max) return `must be <= ${parameter.max}`;
      return undefined;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'must be true or false';
  }
}

function asText(value: TemplateValue): string {
  return typeof value === 'string' ? value : String(value);
}

/**
 * The text of every declared parameter from a request's `template_params`: given, else its
 * default; a required one missing, a wrong type or a name the template does not declare is a
 * 400 naming `template_params.<name>`.
 */
export function resolveParameters(parameters: readonly TemplateParameter[], given: Readonly<Record<string, unknown>> | undefined): Map<string, string> {
  const values = new Map<string, string>();
  const declared = new Set(parameters.map((p) => p.name));
  for (const name of Object.keys(given ?? {})) {
    if (!declared.has(name)) {
      const known = parameters.length > 0 ? `it declares ${parameters.map((p) => p.name).join(', ')}` : 'it declares none';
      throw invalidRequest(`template_params.${name}`, `'template_params.${name}' is not a parameter of this template (${known}).`);
    }
  }
  for (const parameter of parameters) {
    const param = `template_params.${parameter.name}`;
    const raw = given?.[parameter.name];
    if (raw === undefined || raw === null) {
      if (parameter.default !== undefined) values.set(parameter.name, asText(parameter.default));
      else if (parameter.required) throw invalidRequest(param, `'${param}' is required.`);
      else values.set(parameter.name, '');
      continue;
    }
    const problem = problemWith(parameter, raw);
    if (problem) throw invalidRequest(param, `'${param}' ${problem}.`);
    values.set(parameter.name, asText(raw as TemplateValue));
  }
  return values;
}

/** A conflict error for a taken name (the unique index decides; this says it kindly). */
export function nameTaken(name: string): FlexiError {
  return new FlexiError('conflict', `A template named '${name}' already exists.`, { param: 'name' });
}
