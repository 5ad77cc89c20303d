import { expect, it } from 'vitest';
import { describeEachDatabase } from '../../test/helpers/db.js';
import type { TemplateDefinition } from '../core/templates.js';

const T0 = '2026-01-01T10:00:00.000Z';
const T1 = '2026-02-01T10:00:00.000Z';
const DEFINITION: TemplateDefinition = {
  model: 'tiny', system: 'Grade {{subject}}.', user: '{{input}}',
  parameters: [{ name: 'subject', type: 'string', required: true, maxLength: 40 }], sampling: { temperature: 0.2 },
};

describeEachDatabase('template repository', (getStore) => {
  it('saves versions, refuses a stale edit, lists by owner and deletes with its history', async () => {
    const store = getStore();
    const group = await store.groups.create({ name: 'stats', kind: 'course', createdAt: T0 });
    const global = await store.templates.create({ name: 'global', groupId: null, definition: DEFINITION, now: T0 });
    const course = await store.templates.create({ name: 'course', groupId: group.id, definition: DEFINITION, now: T0 });
    expect(await store.templates.findByName('global')).toEqual(global);
    await expect(store.templates.create({ name: 'global', groupId: null, definition: DEFINITION, now: T0 })).rejects.toThrow();

    const v2 = await store.templates.update(course.id, { expectedVersion: 1, definition: { ...DEFINITION, description: 'v2' }, now: T1 });
    expect(v2).toMatchObject({ version: 2, updatedAt: T1, definition: { description: 'v2' } });
    expect(await store.templates.update(course.id, { expectedVersion: 1, definition: DEFINITION, now: T1 })).toBeUndefined();
    expect((await store.templates.versions(course.id)).map((v) => [v.version, v.createdAt, v.definition.description])).toEqual([[2, T1, 'v2'], [1, T0, undefined]]);

    expect((await store.templates.list()).map((t) => t.name)).toEqual(['course', 'global']);
    expect((await store.templates.list({ groupIds: [null] })).map((t) => t.name)).toEqual(['global']);
    expect((await store.templates.list({ groupIds: [group.id] })).map((t) => t.name)).toEqual(['course']);
    expect(await store.templates.list({ groupIds: [] })).toEqual([]);

    expect(await store.templates.delete(global.id)).toBe(true);
    expect(await store.templates.delete(global.id)).toBe(false);
    expect(await store.templates.versions(global.id)).toEqual([]);
    // A group's templates go with the group.
    await store.groups.delete(group.id);
    expect(await store.templates.list()).toEqual([]);
  });
});
