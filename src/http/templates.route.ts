import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  createTemplateRequestSchema, toTemplateDefinition, toTemplateWire, updateTemplateRequestSchema, type UsableTemplateWire,
} from '../api/templates.js';
import { parseBody } from '../api/validation.js';
import { FlexiError } from '../core/errors.js';
import type { Principal } from '../services/identity/access-control.service.js';
import { templateActorOf, type TemplateActor, type TemplateService } from '../services/templates/template.service.js';

export interface TemplateRouteDeps {
  templates: TemplateService;
}

function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new FlexiError('unauthorized');
  return request.principal;
}

function adminOf(request: FastifyRequest): TemplateActor {
  const principal = principalOf(request);
  if (!principal.policy.admin) throw new FlexiError('permission_denied', 'The admin API needs an admin role.');
  return templateActorOf(principal);
}

function param(request: FastifyRequest, name: string): string {
  return (request.params as Record<string, string>)[name]!;
}

/**
 * Prompt templates: `/admin/v1/templates` (admins, every template), `/ui/v1/groups/<group>/templates`
 * (a group's owners manage its templates; admins too), `/ui/v1/templates` (the ones the caller may
 * use, for the web UI's "try it" page). Changes are audited and versioned.
 */
export function registerTemplateRoutes(app: FastifyInstance, deps: TemplateRouteDeps): void {
  const { templates } = deps;

  app.get('/admin/v1/templates', async (request) => {
    const group = (request.query as Record<string, unknown>).group;
    const list = await templates.list(adminOf(request), { group: typeof group === 'string' ? group : undefined });
    return { data: list.map(toTemplateWire) };
  });

  app.post('/admin/v1/templates', async (request, reply) => {
    const actor = adminOf(request);
    const body = parseBody(createTemplateRequestSchema, request.body);
    const created = await templates.create(actor, { name: body.name, group: body.group, definition: toTemplateDefinition(body) });
    return reply.code(201).send(toTemplateWire(created));
  });

  app.get('/admin/v1/templates/:name', async (request) => toTemplateWire(await templates.show(adminOf(request), param(request, 'name'))));

  app.put('/admin/v1/templates/:name', async (request) => {
    const actor = adminOf(request);
    const body = parseBody(updateTemplateRequestSchema, request.body);
    return toTemplateWire(await templates.update(actor, param(request, 'name'), { definition: toTemplateDefinition(body), expectedVersion: body.version }));
  });

  app.delete('/admin/v1/templates/:name', async (request, reply) => {
    await templates.remove(adminOf(request), param(request, 'name'));
    return reply.code(204).send();
  });

  // A group's owners: the same operations, bound to their group.
  app.get('/ui/v1/groups/:group/templates', async (request) => {
    const list = await templates.list(templateActorOf(principalOf(request)), { group: param(request, 'group') });
    return { data: list.map(toTemplateWire) };
  });

  app.post('/ui/v1/groups/:group/templates', async (request, reply) => {
    const actor = templateActorOf(principalOf(request));
    const body = parseBody(createTemplateRequestSchema.omit({ group: true }), request.body);
    const created = await templates.create(actor, { name: body.name, group: param(request, 'group'), definition: toTemplateDefinition(body) });
    return reply.code(201).send(toTemplateWire(created));
  });

  const inGroup = async (request: FastifyRequest): Promise<TemplateActor> => {
    const actor = templateActorOf(principalOf(request));
    const group = await templates.managedGroup(actor, param(request, 'group'));
    const template = await templates.show(actor, param(request, 'name'));
    if (template.groupId !== group.id) throw new FlexiError('not_found', `No template '${param(request, 'name').slice(0, 200)}' in this group.`, { param: 'name' });
    return actor;
  };

  app.get('/ui/v1/groups/:group/templates/:name', async (request) => toTemplateWire(await templates.show(await inGroup(request), param(request, 'name'))));

  app.put('/ui/v1/groups/:group/templates/:name', async (request) => {
    const body = parseBody(updateTemplateRequestSchema, request.body);
    const actor = await inGroup(request);
    return toTemplateWire(await templates.update(actor, param(request, 'name'), { definition: toTemplateDefinition(body), expectedVersion: body.version }));
  });

  app.delete('/ui/v1/groups/:group/templates/:name', async (request, reply) => {
    await templates.remove(await inGroup(request), param(request, 'name'));
    return reply.code(204).send();
  });

  // What the caller may use (the "try it" page): parameters and description, not the prompt texts
  // of templates they do not manage.
  app.get('/ui/v1/templates', async (request): Promise<{ data: UsableTemplateWire[] }> => {
    const list = await templates.usable(principalOf(request));
    return {
      data: list.map((template) => {
        const wire = toTemplateWire(template);
        return { name: wire.name, virtual_model: wire.virtual_model, group: wire.group, description: wire.description, parameters: wire.parameters, version: wire.version };
      }),
    };
  });
}
