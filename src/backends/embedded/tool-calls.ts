import type { ChatModelFunctions, GbnfJsonSchema, Llama, LlamaGrammar } from 'node-llama-cpp';
import { FlexiError } from '../../core/errors.js';
import type { ToolCall, ToolChoice, ToolDefinition } from '../../core/types.js';
import { randomId } from '../../lib/ids.js';

/**
 * Tool calls on the embedded engine, two ways:
 * - `auto`: the tools go to node-llama-cpp as chat functions; the model's chat wrapper
 *   documents them in the prompt and llama.cpp constrains a call, once begun, to the tool's
 *   parameter schema. The model decides whether to call.
 * - `required` or a named tool: the whole answer is sampled under a grammar that admits only
 *   `{"name": …, "arguments": …}` for the allowed tools, so the answer is a call by construction
 *   (OpenAI's semantics for these choices; works on any model, even one without a tool template).
 */
export type ToolMode =
  | { kind: 'functions'; functions: ChatModelFunctions }
  | { kind: 'forced'; grammar: LlamaGrammar; tools: readonly ToolDefinition[] };

const EMPTY_PARAMETERS = { type: 'object', properties: {} } as const;

function parametersOf(tool: ToolDefinition): Record<string, unknown> {
  return tool.parameters && Object.keys(tool.parameters).length > 0 ? tool.parameters : EMPTY_PARAMETERS;
}

/** The tool mode of a request, or undefined when no tool may be called (none offered, or `none`). */
export async function toolModeFor(llama: Llama, tools: readonly ToolDefinition[] | undefined, choice: ToolChoice | undefined): Promise<ToolMode | undefined> {
  if (!tools || tools.length === 0 || choice === 'none') return undefined;
  if (choice === undefined || choice === 'auto') {
    const functions: Record<string, { description?: string; params: GbnfJsonSchema }> = {};
    tools.forEach((tool, i) => {
      functions[tool.name] = { description: tool.description, params: checkedSchema(parametersOf(tool), `tools[${i}].function.parameters`) };
    });
    return { kind: 'functions', functions: functions as ChatModelFunctions };
  }
  const allowed = choice === 'required' ? tools : tools.filter((tool) => tool.name === choice.name);
  if (allowed.length === 0) {
    throw new FlexiError('invalid_request', `tool_choice names '${(choice as { name: string }).name}', which is not among the tools.`, { param: 'tool_choice' });
  }
  const variants = allowed.map((tool) => ({
    type: 'object', properties: { name: { const: tool.name }, arguments: parametersOf(tool) }, required: ['name', 'arguments'],
  }));
  const schema = variants.length === 1 ? variants[0]! : { oneOf: variants };
  try {
    return { kind: 'forced', grammar: await llama.createGrammarForJsonSchema(schema as Parameters<Llama['createGrammarForJsonSchema']>[0]), tools: allowed };
  } catch (error) {
    throw new FlexiError('invalid_request', `tools: a parameter schema cannot be turned into a grammar: ${(error as Error).message}`, { param: 'tools', cause: error });
  }
}

/** node-llama-cpp takes a subset of JSON Schema; it says which part it cannot take only when used. */
function checkedSchema(schema: Record<string, unknown>, param: string): GbnfJsonSchema {
  if (schema.type !== undefined && schema.type !== 'object') {
    throw new FlexiError('invalid_request', `'${param}' must be a JSON Schema of type object.`, { param });
  }
  return schema as GbnfJsonSchema;
}

/** The call a forced generation wrote: `{"name", "arguments"}` as the grammar shaped it. */
export function parseForcedCall(text: string): ToolCall {
  let parsed: { name?: unknown; arguments?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (error) {
    // Only when the reply hit max_tokens before the grammar closed the object.
    throw new FlexiError('backend_error', 'The tool call was cut off before it was complete: allow more max_tokens.', { cause: error });
  }
  return { id: `call_${randomId(24)}`, name: String(parsed.name), arguments: JSON.stringify(parsed.arguments ?? {}) };
}

/** Calls node-llama-cpp parsed from an `auto` generation, in OpenAI's form. */
export function fromFunctionCalls(calls: ReadonlyArray<{ functionName: string; params: unknown }> | undefined): ToolCall[] {
  return (calls ?? []).map((call) => ({ id: `call_${randomId(24)}`, name: call.functionName, arguments: JSON.stringify(call.params ?? {}) }));
}
