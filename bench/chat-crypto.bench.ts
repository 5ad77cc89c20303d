/**
 * What encrypted chats (privacy.encrypt_chats) cost: the key derivation at sign-in and on a
 * password change (scrypt), the per-request unwrap of the session's key (HKDF + AES-GCM), and
 * sealing/opening chat text of typical sizes (AES-256-GCM), plus opening a whole history as the
 * chat list and search over encrypted chats do. Prints a markdown table.
 *
 *   npm run bench:chat-crypto [-- --rounds 200]
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { keyFromToken, newDataKey, openSealed, openSealedText, seal, unwrapWithSecret, wrapWithSecret } from '../src/services/chat-crypto.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '200' } } });
const rounds = Math.max(1, Number(args.rounds));

async function time(label: string, times: number, run: () => unknown): Promise<[string, string, string]> {
  for (let i = 0; i < Math.min(3, times); i++) await run();
  const started = performance.now();
  for (let i = 0; i < times; i++) await run();
  const ms = (performance.now() - started) / times;
  return [label, ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(1)} ms`, `${Math.round(1000 / ms).toLocaleString('en')}/s`];
}

const key = newDataKey();
const user = 'u'.repeat(20);
const token = 't'.repeat(43);
const text = (bytes: number) => 'Die Fläche eines Kreises ist π r². '.repeat(Math.ceil(bytes / 36)).slice(0, bytes);
const wrapped = await wrapWithSecret(key, 'a-long-password', user);
const sessionWrapped = seal(keyFromToken(token, user), key, 'session:s1');
const small = seal(key, text(1_000), user);
const large = seal(key, text(100_000), user);
// A history of 200 chats × 20 messages of 1 kB each: what search over encrypted chats opens.
const history = Array.from({ length: 4000 }, () => seal(key, text(1_000), user));

const rows = [
  await time('sign-in: unwrap the key with the password (scrypt N=2^15)', Math.max(3, Math.floor(rounds / 20)), () => unwrapWithSecret(wrapped, 'a-long-password', user)),
  await time('password change / recovery key: wrap (scrypt)', Math.max(3, Math.floor(rounds / 20)), () => wrapWithSecret(key, 'a-long-password', user)),
  await time('every request: the session\'s key (HKDF + AES-GCM)', rounds * 10, () => openSealed(keyFromToken(token, user), sessionWrapped, 'session:s1')),
  await time('seal a 1 kB message', rounds * 10, () => seal(key, text(1_000), user)),
  await time('open a 1 kB message', rounds * 10, () => openSealedText(key, small, user)),
  await time('open a 100 kB message', rounds, () => openSealedText(key, large, user)),
  await time('open 4,000 messages of 1 kB (search over 200 chats)', Math.max(3, Math.floor(rounds / 20)), () => history.forEach((v) => openSealedText(key, v, user))),
];

console.log(`\nEncrypted chats: cost per operation (${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores, Node ${process.version})\n`);
console.log('| operation | time | rate |');
console.log('| --- | ---: | ---: |');
for (const [label, ms, rate] of rows) console.log(`| ${label} | ${ms} | ${rate} |`);
