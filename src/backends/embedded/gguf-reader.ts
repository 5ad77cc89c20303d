import { open } from 'node:fs/promises';
import { systemClock, type Clock } from '../../lib/clock.js';

/**
 * A GGUF header reader for untrusted files (pulled from the internet, dropped into a model
 * folder). Layout per ggml `docs/gguf.md`. Every count and length in the file is checked against
 * the bytes that are actually there before anything is allocated or looped over, so each step of
 * the parse consumes bytes of the file: a truncated or corrupted file ends in a `GgufFormatError`
 * after at most one pass over the file, never in a hang or a huge allocation. node-llama-cpp's
 * reader pads reads past the end with zeros and trusts the counts (issue 12: a truncated file
 * kept the server at ~92 % CPU forever), so Flexi parses the header itself and hands llama.cpp
 * only files that passed.
 */

/** The file is not a well-formed GGUF file; the message says where and why. */
export class GgufFormatError extends Error {
  override name = 'GgufFormatError';
}

/** Bytes of the file at a position; the file-system source and tests' in-memory files implement it. */
export interface ByteSource {
  readonly sizeBytes: number;
  /** Exactly `length` bytes at `position` (the caller never asks beyond `sizeBytes`). */
  read(position: number, length: number): Promise<Uint8Array>;
}

export interface GgufTensor {
  name: string;
  dimensions: number[];
  /** ggml type number (`GGML_TYPE_*`). */
  type: number;
  /** Bytes from the start of the data section. */
  offset: number;
  sizeBytes: number;
}

export interface GgufHeader {
  version: number;
  /** Flat `key → value`; arrays longer than `maxArrayItems` are `null` (tokenizer vocabularies). */
  metadata: Map<string, unknown>;
  tensors: GgufTensor[];
  /** Where the tensor data begins (the header end, aligned). */
  dataOffset: number;
}

export interface GgufReadLimits {
  /** Longest the parse may take; the header of a real model needs well under a second. */
  timeoutMs?: number;
  clock?: Clock;
  /** Arrays longer than this are skipped, not decoded. */
  maxArrayItems?: number;
}

const MAGIC = 0x46554747; // "GGUF" read as little-endian u32
const MAX_KEY_BYTES = 65_535; // the spec's bound on key length
const MAX_STRING_BYTES = 16 << 20; // chat templates are kilobytes; nothing real comes near
const MAX_DIMS = 4; // GGML_MAX_DIMS
const WINDOW_BYTES = 1 << 20;
const CLOCK_CHECK_EVERY = 4096;

/** ggml type → [elements per block, bytes per block] (ggml `type_traits`; removed types are absent). */
const GGML_TYPE_SIZES: Record<number, readonly [number, number]> = {
  0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 9: [32, 36],
  10: [256, 84], 11: [256, 110], 12: [256, 144], 13: [256, 176], 14: [256, 210], 15: [256, 292],
  16: [256, 66], 17: [256, 74], 18: [256, 98], 19: [256, 50], 20: [32, 18], 21: [256, 110], 22: [256, 82],
  23: [256, 136], 24: [1, 1], 25: [1, 2], 26: [1, 4], 27: [1, 8], 28: [1, 8], 29: [256, 56], 30: [1, 2],
  34: [256, 54], 35: [256, 66], 39: [32, 17], 40: [64, 36], 41: [128, 18], 42: [64, 18],
};

/** GGUF metadata value types → fixed size in bytes (string 8 is only its length prefix, array 9 has none). */
const VALUE_SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

/** Reads forward through a `ByteSource`, one window at a time, refusing to go past its end. */
class BoundedCursor {
  position = 0;
  private window: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.window.buffer);
  private windowStart = 0;
  private steps = 0;
  private readonly deadline: number;

  constructor(private readonly source: ByteSource, private readonly clock: Clock, timeoutMs: number) {
    this.deadline = clock.monotonicMs() + timeoutMs;
  }

  get remaining(): number {
    return this.source.sizeBytes - this.position;
  }

  /** Called once per loop iteration: the belt to the byte bounds' braces. */
  tick(): void {
    if (++this.steps % CLOCK_CHECK_EVERY === 0 && this.clock.monotonicMs() > this.deadline) {
      throw new GgufFormatError(`reading the header took too long (stopped at byte ${this.position})`);
    }
  }

  /** Moves past `length` bytes without reading them. */
  skip(length: number, what: string): void {
    if (length > this.remaining) throw this.truncated(length, what);
    this.position += length;
  }

  async bytes(length: number, what: string): Promise<Uint8Array> {
    if (!this.inWindow(length)) await this.fill(length, what);
    const start = this.position - this.windowStart;
    this.position += length;
    return this.window.subarray(start, start + length);
  }

  async u32(what: string): Promise<number> {
    if (!this.inWindow(4)) await this.fill(4, what);
    const value = this.view.getUint32(this.position - this.windowStart, true);
    this.position += 4;
    return value;
  }

  /** A u64 that counts or locates something: it must be a safe integer. */
  async u64(what: string): Promise<number> {
    if (!this.inWindow(8)) await this.fill(8, what);
    const value = this.view.getBigUint64(this.position - this.windowStart, true);
    this.position += 8;
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufFormatError(`${what} at byte ${this.position - 8} is ${value}, beyond any real file`);
    return Number(value);
  }

  async string(what: string, maxBytes: number): Promise<string> {
    const length = await this.u64(`length of ${what}`);
    if (length > maxBytes) throw new GgufFormatError(`${what} at byte ${this.position - 8} claims ${length} bytes (at most ${maxBytes})`);
    return Buffer.from(await this.bytes(length, what)).toString('utf8');
  }

  /** A scalar metadata value of `type`. */
  async scalar(type: number, what: string): Promise<unknown> {
    const size = VALUE_SIZES[type]!;
    if (!this.inWindow(size)) await this.fill(size, what);
    const at = this.position - this.windowStart;
    this.position += size;
    switch (type) {
      case 0: return this.view.getUint8(at);
      case 1: return this.view.getInt8(at);
      case 2: return this.view.getUint16(at, true);
      case 3: return this.view.getInt16(at, true);
      case 4: return this.view.getUint32(at, true);
      case 5: return this.view.getInt32(at, true);
      case 6: return this.view.getFloat32(at, true);
      case 7: return this.view.getUint8(at) !== 0;
      case 10: return Number(this.view.getBigUint64(at, true));
      case 11: return Number(this.view.getBigInt64(at, true));
      default: return this.view.getFloat64(at, true);
    }
  }

  private truncated(length: number, what: string): GgufFormatError {
    return new GgufFormatError(`the file is truncated: ${what} at byte ${this.position} needs ${length} bytes, ${this.remaining} are left`);
  }

  /** Whether the next `length` bytes are loaded; checked inline so that the common case awaits nothing. */
  private inWindow(length: number): boolean {
    return this.position >= this.windowStart && this.position + length <= this.windowStart + this.window.length;
  }

  private async fill(length: number, what: string): Promise<void> {
    if (length > this.remaining) throw this.truncated(length, what);
    const size = Math.min(Math.max(length, WINDOW_BYTES), this.remaining);
    this.window = await this.source.read(this.position, size);
    if (this.window.length < length) throw this.truncated(length, what);
    this.view = new DataView(this.window.buffer, this.window.byteOffset, this.window.byteLength);
    this.windowStart = this.position;
  }
}

/** Reads one metadata value; arrays longer than `maxItems` are walked (strings) or skipped (numbers) and become null. */
async function readValue(cursor: BoundedCursor, type: number, key: string, maxItems: number): Promise<unknown> {
  if (type === STRING) return cursor.string(`the value of ${key}`, MAX_STRING_BYTES);
  if (type in VALUE_SIZES) return cursor.scalar(type, `the value of ${key}`);
  if (type !== ARRAY) throw new GgufFormatError(`${key} has unknown value type ${type} (byte ${cursor.position - 4})`);
  const itemType = await cursor.u32(`the item type of ${key}`);
  const count = await cursor.u64(`the length of ${key}`);
  if (itemType === ARRAY) throw new GgufFormatError(`${key} is an array of arrays, which GGUF readers do not support`);
  const itemBytes = itemType === STRING ? 8 : VALUE_SIZES[itemType];
  if (itemBytes === undefined) throw new GgufFormatError(`${key} has unknown item type ${itemType}`);
  // Every item takes at least itemBytes, so a count the file cannot hold is refused before any loop.
  if (count > cursor.remaining / itemBytes) throw new GgufFormatError(`the file is truncated: ${key} claims ${count} items, the ${cursor.remaining} bytes left cannot hold them`);
  if (count > maxItems && itemType !== STRING) {
    cursor.skip(count * itemBytes, `the items of ${key}`);
    return null;
  }
  if (count > maxItems) {
    // A vocabulary (150k strings): walk the lengths, decode nothing.
    for (let i = 0; i < count; i++) {
      cursor.tick();
      const length = await cursor.u64(`the length of item ${i} of ${key}`);
      if (length > MAX_STRING_BYTES) throw new GgufFormatError(`item ${i} of ${key} claims ${length} bytes (at most ${MAX_STRING_BYTES})`);
      cursor.skip(length, `item ${i} of ${key}`);
    }
    return null;
  }
  const items: unknown[] = [];
  for (let i = 0; i < count; i++) {
    cursor.tick();
    const item = itemType === STRING
      ? await cursor.string(`item ${i} of ${key}`, MAX_STRING_BYTES)
      : await cursor.scalar(itemType, `item ${i} of ${key}`);
    items.push(item);
  }
  return items;
}

async function readTensor(cursor: BoundedCursor, index: number): Promise<Omit<GgufTensor, 'sizeBytes'> & { elements: number }> {
  const name = await cursor.string(`the name of tensor ${index}`, MAX_KEY_BYTES);
  const dimCount = await cursor.u32(`the dimension count of ${name}`);
  if (dimCount < 1 || dimCount > MAX_DIMS) throw new GgufFormatError(`tensor ${name} has ${dimCount} dimensions (1 to ${MAX_DIMS})`);
  const dimensions: number[] = [];
  let elements = 1;
  for (let d = 0; d < dimCount; d++) {
    const dim = await cursor.u64(`dimension ${d} of ${name}`);
    elements *= dim;
    if (!Number.isSafeInteger(elements)) throw new GgufFormatError(`tensor ${name} has more elements than any real model`);
    dimensions.push(dim);
  }
  const type = await cursor.u32(`the type of ${name}`);
  const offset = await cursor.u64(`the data offset of ${name}`);
  return { name, dimensions, type, offset, elements };
}

function tensorBytes(tensor: { name: string; dimensions: number[]; type: number; elements: number }): number {
  const size = GGML_TYPE_SIZES[tensor.type];
  if (!size) throw new GgufFormatError(`tensor ${tensor.name} has ggml type ${tensor.type}, which this llama.cpp does not know`);
  const [blockElements, blockBytes] = size;
  if (tensor.dimensions[0]! % blockElements !== 0) throw new GgufFormatError(`tensor ${tensor.name}: ${tensor.dimensions[0]} is not a multiple of the type's block of ${blockElements}`);
  return (tensor.elements / blockElements) * blockBytes;
}

/**
 * Parses the header of a GGUF file: metadata, tensor table, and a check that every tensor's
 * data lies inside the file (a download cut short fails here, not when llama.cpp loads it).
 * Throws `GgufFormatError` for anything malformed.
 */
export async function parseGgufHeader(source: ByteSource, limits: GgufReadLimits = {}): Promise<GgufHeader> {
  const cursor = new BoundedCursor(source, limits.clock ?? systemClock, limits.timeoutMs ?? 30_000);
  const maxItems = limits.maxArrayItems ?? 64;
  if (source.sizeBytes >= 4 && (await cursor.u32('the magic')) !== MAGIC) throw new GgufFormatError('it does not start with the GGUF magic bytes');
  const version = await cursor.u32('the version');
  if (version !== 2 && version !== 3) throw new GgufFormatError(`GGUF version ${version} is not supported (2 or 3; big-endian files are not)`);
  const tensorCount = await cursor.u64('the tensor count');
  const metadataCount = await cursor.u64('the metadata count');
  // Smallest possible entries: key length + empty key + type + 1-byte value; name length + empty name + dim count + 1 dim + type + offset.
  if (metadataCount * 13 + tensorCount * 32 > cursor.remaining) {
    throw new GgufFormatError(`the file is truncated: ${metadataCount} metadata entries and ${tensorCount} tensors cannot fit in ${cursor.remaining} bytes`);
  }
  const metadata = new Map<string, unknown>();
  for (let i = 0; i < metadataCount; i++) {
    cursor.tick();
    const key = await cursor.string(`metadata key ${i}`, MAX_KEY_BYTES);
    const type = await cursor.u32(`the type of ${key}`);
    metadata.set(key, await readValue(cursor, type, key, maxItems));
  }
  const tensors = [];
  for (let i = 0; i < tensorCount; i++) {
    cursor.tick();
    tensors.push(await readTensor(cursor, i));
  }
  const alignment = metadata.get('general.alignment') ?? 32;
  if (typeof alignment !== 'number' || !Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new GgufFormatError(`general.alignment is ${String(alignment)}, not a power of two`);
  }
  const dataOffset = Math.ceil(cursor.position / alignment) * alignment;
  const dataBytes = source.sizeBytes - dataOffset;
  const checked: GgufTensor[] = tensors.map(({ elements, ...tensor }) => {
    const sizeBytes = tensorBytes({ ...tensor, elements });
    if (tensor.offset % alignment !== 0) throw new GgufFormatError(`tensor ${tensor.name}: offset ${tensor.offset} is not aligned to ${alignment}`);
    if (tensor.offset + sizeBytes > dataBytes) {
      throw new GgufFormatError(`the file is truncated: tensor ${tensor.name} needs bytes up to ${dataOffset + tensor.offset + sizeBytes}, the file has ${source.sizeBytes}`);
    }
    return { ...tensor, sizeBytes };
  });
  return { version, metadata, tensors: checked, dataOffset };
}

/** Parses the header of the GGUF file at `path` (reads only the header). */
export async function readGgufHeader(path: string, limits: GgufReadLimits = {}): Promise<GgufHeader> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    return await parseGgufHeader({
      sizeBytes: size,
      read: async (position, length) => {
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, position);
        return buffer.subarray(0, bytesRead);
      },
    }, limits);
  } finally {
    await handle.close();
  }
}
