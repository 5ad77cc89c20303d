import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import {
  createTemplateRequestSchema, toTemplateDefinition, toTemplateWire, updateTemplateRequestSchema, type TemplateWire,
} from '../api/templates.js';
import { parseBody } from '../api/validation.js';
import { FlexiError } from '../core/errors.js';
import { buildTemplateService } from '../services/build-services.js';
import type { TemplateActor } from '../services/templates/template.service.js';
import { CliError } from './cli-error.js';
import { CONFIG_OPTION, print, printJson, shortTime, withIdentity, type IdentityContext } from './identity-context.js';
import { formatTable } from './table.js';

interface Options {
  config?: string;
  json?: boolean;
}

/** The YAML (or JSON) file as an object; a file that is not one is the user's to fix. */
function readTemplateFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new CliError(`${file} is not valid YAML: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CliError(`${file} must hold one template: name, model, system, user, parameters, sampling (see docs/moodle.md).`);
  }
  return parsed as Record<string, unknown>;
}

/** The file checked against the wire schema; a bad field is the user's to fix, named with the file. */
function parseFile<T extends z.ZodType>(schema: T, value: Record<string, unknown>, file: string): z.infer<T> {
  try {
    return parseBody(schema, value);
  } catch (error) {
    if (error instanceof FlexiError) throw new CliError(`${file}: ${error.message}`);
    throw error;
  }
}

/** The CLI acts as an admin (it holds the database), named as the audit log names CLI actors. */
async function withTemplates<T>(options: Options, work: (context: IdentityContext & { actor: string; templates: ReturnType<typeof buildTemplateService> }, admin: TemplateActor) => Promise<T>): Promise<T> {
  return withIdentity(options.config, (context) => work({ ...context, templates: buildTemplateService(context.store, context.identity) }, { label: context.actor, admin: true }));
}

function printTemplate(template: TemplateWire): void {
  print(`${template.virtual_model} (version ${template.version}${template.group ? `, group ${template.group}` : ', global'})\n`);
  if (template.description) print(`${template.description}\n`);
  print(`model:  ${template.model}\n`);
  if (template.system) print(`system: ${template.system}\n`);
  print(`user:   ${template.user}\n`);
  if (template.parameters.length > 0) {
    print(formatTable(['PARAMETER', 'TYPE', 'REQUIRED', 'DEFAULT', 'ALLOWED'], template.parameters.map((p) => [
      p.name, p.type, p.required ? 'yes' : 'no', p.default === undefined ? '-' : String(p.default),
      p.values?.join('|') ?? (p.max_length !== undefined ? `≤ ${p.max_length} chars` : p.min !== undefined || p.max !== undefined ? `${p.min ?? ''}..${p.max ?? ''}` : '-'),
    ])));
  }
  if (template.versions) {
    print(formatTable(['VERSION', 'SAVED'], template.versions.map((v) => [String(v.version), shortTime(v.created_at)])));
  }
}

export function registerTemplatesCommand(program: Command): void {
  const templates = program.command('templates').description('prompt templates, used as the models template:<name> (docs/moodle.md)');

  templates.command('create')
    .description('create a template from a YAML file (name, group, description, model, system, user, parameters, sampling)')
    .argument('<file>', 'YAML or JSON file')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the template as JSON')
    .action(async (file: string, options: Options) => {
      const body = parseFile(createTemplateRequestSchema, readTemplateFile(file), file);
      const created = await withTemplates(options, ({ templates: service }, admin) =>
        service.create(admin, { name: body.name, group: body.group, definition: toTemplateDefinition(body) }));
      if (options.json) printJson(toTemplateWire(created));
      else print(`Created template:${created.name} (version 1${created.groupName ? `, group ${created.groupName}` : ', global'}).\n`);
    });

  templates.command('list')
    .description('list templates')
    .option('--group <group>', 'only this group\'s (name or id)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print a JSON array')
    .action(async (options: Options & { group?: string }) => {
      const list = await withTemplates(options, ({ templates: service }, admin) => service.list(admin, { group: options.group }));
      if (options.json) return printJson(list.map(toTemplateWire));
      if (list.length === 0) return print('No templates yet. Create one with `flexi templates create <file.yaml>`.\n');
      print(formatTable(['MODEL', 'GROUP', 'VERSION', 'ANSWERS WITH', 'DESCRIPTION'], list.map((t) => [
        `template:${t.name}`, t.groupName ?? '(global)', String(t.version), t.definition.model, (t.definition.description ?? '').slice(0, 60),
      ])));
    });

  templates.command('show')
    .description('show a template and its versions')
    .argument('<name>', 'the name after template:')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON (with every version)')
    .action(async (name: string, options: Options) => {
      const shown = await withTemplates(options, ({ templates: service }, admin) => service.show(admin, stripPrefix(name)));
      const wire = toTemplateWire(shown);
      if (options.json) printJson(wire);
      else printTemplate(wire);
    });

  templates.command('edit')
    .description('save a YAML file as the next version of a template (its name and group stay)')
    .argument('<name>', 'the name after template:')
    .argument('<file>', 'YAML or JSON file with the whole new definition')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the template as JSON')
    .action(async (name: string, file: string, options: Options) => {
      const { name: fileName, group: _group, ...rest } = readTemplateFile(file);
      if (fileName !== undefined && fileName !== stripPrefix(name)) {
        throw new CliError(`${file} names the template '${String(fileName)}', not '${stripPrefix(name)}'; renaming is not supported (create a new one).`);
      }
      const body = parseFile(updateTemplateRequestSchema, rest, file);
      const updated = await withTemplates(options, ({ templates: service }, admin) =>
        service.update(admin, stripPrefix(name), { definition: toTemplateDefinition(body), expectedVersion: body.version }));
      if (options.json) printJson(toTemplateWire(updated));
      else print(`Saved template:${updated.name} as version ${updated.version}.\n`);
    });

  templates.command('rm')
    .description('delete a template and its history')
    .argument('<name>', 'the name after template:')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the deleted template as JSON')
    .action(async (name: string, options: Options) => {
      const removed = await withTemplates(options, ({ templates: service }, admin) => service.remove(admin, stripPrefix(name)));
      if (options.json) printJson({ name: removed.name, deleted: true });
      else print(`Deleted template:${removed.name}.\n`);
    });
}

/** `template:x` and `x` both name the template `x`. */
function stripPrefix(name: string): string {
  return name.startsWith('template:') ? name.slice('template:'.length) : name;
}
