import { ApiKeyService } from '../../src/services/identity/api-key.service.js';
import { MemoryCounterStore } from '../../src/store/counter-store.js';
import { openDatabase } from '../../src/store/store.js';

/** One simulated person: their API key and the role it carries. */
export interface BenchUser {
  name: string;
  role: string;
  key: string;
}

/**
 * Creates one API key per simulated user in a fresh SQLite file, the way `flexi keys create`
 * does, so Flexi attributes each request to its own subject (`key:<id>`) for fair share. The
 * role is stored on the key: once roles map to priority classes (identity work), the same
 * keys put students in `interactive` and researchers in `batch` with no change here.
 */
export async function createUsers(databaseUrl: string, groups: readonly { prefix: string; role: string; count: number }[]): Promise<Map<string, BenchUser[]>> {
  const store = await openDatabase(databaseUrl);
  await store.migrate();
  const keys = new ApiKeyService(store.apiKeys, { revocations: new MemoryCounterStore() });
  const byPrefix = new Map<string, BenchUser[]>();
  try {
    for (const group of groups) {
      const users: BenchUser[] = [];
      for (let i = 0; i < group.count; i++) {
        const name = `${group.prefix}-${i}`;
        const { key } = await keys.create({ name, role: group.role });
        users.push({ name, role: group.role, key });
      }
      byPrefix.set(group.prefix, users);
    }
  } finally {
    await keys.close();
    await store.close();
  }
  return byPrefix;
}
