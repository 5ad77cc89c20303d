import { setMaxListeners } from 'node:events';
import { seededRandom } from '../../src/lib/random.js';
import { PAPER_PROMPTS } from '../../src/lab/data/paper-appendix-a.js';
import type { Driver } from './driver.js';
import type { BenchUser } from './keys.js';

/** (a) The paper's Appendix A: per model, prompt and level a burst of `level` requests from `level` users. */
export interface GridOptions {
  models: readonly string[];
  promptIndexes: readonly number[];
  levels: readonly number[];
  users: readonly BenchUser[];
}

export async function runGrid(driver: Driver, options: GridOptions): Promise<void> {
  for (const model of options.models) {
    // Unmeasured warm-up, as `flexi loadtest` does: the model is loaded once before its cells.
    await driver.send({ user: options.users[0]!, class: 'lone', model, prompt: 'hello', maxTokens: 1 });
    driver.records.pop();
    for (const promptIndex of options.promptIndexes) {
      for (const level of options.levels) {
        await Promise.all(Array.from({ length: level }, (_, i) => driver.send({
          user: options.users[i]!, class: 'interactive', model, prompt: PAPER_PROMPTS[promptIndex]!, promptIndex, level,
        })));
      }
    }
  }
}

/** (b) An exam rush: many students in short think–ask cycles while researchers flood batch requests. */
export interface RushOptions {
  model: string;
  students: readonly BenchUser[];
  researchers: readonly BenchUser[];
  /** Sequential requests of one student alone before the rush: the lone-user reference. */
  loneRequests: number;
  /** Simulated seconds during which students ask and researchers flood. */
  windowS: number;
  /** Students start at uniform times within the first `rampS` seconds. */
  rampS: number;
  /** Mean of the exponential think time between a student's answer and their next question. */
  thinkS: number;
  studentMaxTokens: number;
  /** Requests each researcher keeps in flight (a script with a thread pool). */
  researcherConcurrency: number;
  researcherMaxTokens?: number;
  seed: number;
  /** Concurrent one-token requests before the lone user starts (one per node): a balancer without a queue warms every node this way. */
  warmupBurst: number;
}

export async function runRush(driver: Driver, options: RushOptions): Promise<void> {
  const random = seededRandom(options.seed);
  const prompt = () => Math.floor(random() * PAPER_PROMPTS.length);
  const lone = options.students[0]!;
  await Promise.all(Array.from({ length: options.warmupBurst }, (_, i) => driver.send({
    user: options.students[i % options.students.length]!, class: 'lone', model: options.model, prompt: 'hello', maxTokens: 1,
  })));
  driver.records.length = 0;
  for (let i = 0; i < options.loneRequests; i++) {
    const p = i % PAPER_PROMPTS.length;
    await driver.send({ user: lone, class: 'lone', model: options.model, prompt: PAPER_PROMPTS[p]!, promptIndex: p, maxTokens: options.studentMaxTokens });
  }
  const t0 = driver.nowMs();
  const endMs = t0 + options.windowS * 1000;
  // Researchers' unfinished requests are cut when the window closes (their script is stopped).
  const stopFlood = new AbortController();
  setMaxListeners(0, stopFlood.signal);
  const plans = options.students.map(() => ({ startMs: t0 + random() * options.rampS * 1000, thinks: Array.from({ length: 64 }, () => -Math.log(1 - random())) }));
  const student = async (user: BenchUser, plan: (typeof plans)[number]) => {
    await driver.sleep(plan.startMs - driver.nowMs());
    for (let turn = 0; driver.nowMs() < endMs; turn++) {
      const p = prompt();
      await driver.send({ user, class: 'interactive', model: options.model, prompt: PAPER_PROMPTS[p]!, promptIndex: p, maxTokens: options.studentMaxTokens });
      // A student still thinking when the window closes asks nothing more.
      await driver.sleep(Math.min(plan.thinks[turn % plan.thinks.length]! * options.thinkS * 1000, endMs - driver.nowMs()));
    }
  };
  const researcherLane = async (user: BenchUser, lane: number) => {
    for (let turn = 0; driver.nowMs() < endMs && !stopFlood.signal.aborted; turn++) {
      const p = (lane + turn) % PAPER_PROMPTS.length;
      const record = await driver.send({
        user, class: 'batch', model: options.model, prompt: PAPER_PROMPTS[p]!, promptIndex: p, maxTokens: options.researcherMaxTokens, signal: stopFlood.signal,
      });
      // A refused script backs off as asked (Retry-After is in real seconds of the target's clock).
      if (record.errorKind === 'refused') await driver.sleep(Math.max(1, record.retryAfterS ?? 1) * 1000 * driver.speed, stopFlood.signal);
    }
  };
  const flood = options.researchers.flatMap((user) => Array.from({ length: options.researcherConcurrency }, (_, lane) => researcherLane(user, lane)));
  const windowTimer = setTimeout(() => stopFlood.abort(), Math.max(0, endMs - driver.nowMs()) / driver.speed);
  await Promise.all(options.students.map((user, i) => student(user, plans[i]!)));
  clearTimeout(windowTimer);
  stopFlood.abort();
  await Promise.all(flood);
}

/** (c) Interactive users on two nodes; one node's process is SIGKILLed mid-run. */
export interface KillOptions {
  model: string;
  users: readonly BenchUser[];
  windowS: number;
  killAtS: number;
  thinkS: number;
  maxTokens: number;
  seed: number;
  kill: () => void;
}

export async function runKill(driver: Driver, options: KillOptions): Promise<{ killedAtMs: number }> {
  const random = seededRandom(options.seed);
  await driver.send({ user: options.users[0]!, class: 'lone', model: options.model, prompt: 'hello', maxTokens: 1 });
  driver.records.pop();
  const t0 = driver.nowMs();
  const endMs = t0 + options.windowS * 1000;
  let killedAtMs = Number.NaN;
  const killTimer = setTimeout(() => {
    killedAtMs = driver.nowMs();
    options.kill();
  }, (options.killAtS * 1000) / driver.speed);
  const user = async (u: BenchUser, offsetMs: number) => {
    await driver.sleep(offsetMs);
    while (driver.nowMs() < endMs) {
      const p = Math.floor(random() * PAPER_PROMPTS.length);
      await driver.send({ user: u, class: 'interactive', model: options.model, prompt: PAPER_PROMPTS[p]!, promptIndex: p, maxTokens: options.maxTokens });
      await driver.sleep(Math.min(-Math.log(1 - random()) * options.thinkS * 1000, endMs - driver.nowMs()));
    }
  };
  await Promise.all(options.users.map((u) => user(u, random() * options.thinkS * 1000)));
  clearTimeout(killTimer);
  return { killedAtMs };
}
