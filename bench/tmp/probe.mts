import { createDispatcher } from '../../src/lab/client/target.js';
import { PAPER_CLUSTER, startCluster } from '../scheduler/cluster.js';
import { Driver } from '../scheduler/driver.js';
import { createUsers } from '../scheduler/keys.js';
const db = `/tmp/probe-${Date.now()}.db`;
const users = await createUsers(db, [{ prefix: 'staff', role: 'staff', count: 1 }, { prefix: 'student', role: 'student', count: 1 }]);
const cluster = await startCluster({ system: 'flexi', machines: PAPER_CLUSTER.slice(1), speed: 4, seed: 1, databaseUrl: db });
const driver = new Driver(cluster.url, 4, createDispatcher());
for (const u of [users.get('staff')![0]!, users.get('student')![0]!]) {
  const r = await driver.send({ user: u, class: 'interactive', model: 'llama3', prompt: 'hi', maxTokens: 8 });
  console.log(u.role, r.ok, r.status, r.errorMessage, r.outputTokens);
}
await cluster.stop();
