/**
 * Writes tiny llama-architecture GGUF v3 models with seeded random weights and an SPM vocabulary
 * with byte fallback, so tests and benchmarks run real llama.cpp inference without downloading a
 * model. Layout per ggml `docs/gguf.md`; Q8_0 blocks per ggml `ggml-common.h` (f16 scale + 32 × int8).
 * The file is streamed tensor by tensor, so a 60M-parameter model needs little memory.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { seededRandom } from '../../src/lib/random.js';

export type GgufWeightType = 'F32' | 'F16' | 'Q8_0';

export interface TinyModelOptions {
  vocabSize?: number;
  embd?: number;
  layers?: number;
  heads?: number;
  /** Key/value heads (GQA); defaults to `heads`. */
  kvHeads?: number;
  ff?: number;
  /** `llama.context_length`; write what the tests use (pitfall 5). */
  contextLength?: number;
  weightType?: GgufWeightType;
  seed?: number;
  name?: string;
  license?: string;
  /** Jinja `tokenizer.chat_template`; absent means llama.cpp/node-llama-cpp pick a default wrapper. */
  chatTemplate?: string;
  /** Omit `output.weight` (tied to the embedding). */
  tiedOutput?: boolean;
  /**
   * A vocabulary piece the model predicts next after any input (probability near 1): every
   * token's embedding carries a large constant in dimension 0 that survives the layers, and only
   * this piece's output row reads that dimension. For tests whose answer is forced by construction.
   */
  forceToken?: string;
}

export interface TinyModelSummary {
  path: string;
  sizeBytes: number;
  parameters: number;
  vocabSize: number;
  embd: number;
  contextLength: number;
}

/** A llama2-style template, enough for JinjaTemplate to recognise system/user/assistant turns. */
export const LLAMA2_CHAT_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'system' %}{{ '<<SYS>>\\n' + message['content'] + '\\n<</SYS>>\\n\\n' }}"
  + "{% elif message['role'] == 'user' %}{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}"
  + "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + ' ' + eos_token }}{% endif %}{% endfor %}";

const GGML_TYPE = { F32: 0, F16: 1, Q8_0: 8 } as const;
const FILE_TYPE = { F32: 0, F16: 1, Q8_0: 7 } as const;
const ALIGNMENT = 32;
/** forceToken: the constant in embedding dimension 0 (others have sd 1) and the forced row's weight on it. */
const FORCE_EMBEDDING = 8;
const FORCE_OUTPUT = 4;

enum ValueType { U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9 }

type MetaValue =
  | { type: ValueType.U32 | ValueType.I32 | ValueType.F32; value: number }
  | { type: ValueType.Bool; value: boolean }
  | { type: ValueType.String; value: string }
  | { type: ValueType.Array; itemType: ValueType.String; value: string[] }
  | { type: ValueType.Array; itemType: ValueType.F32 | ValueType.I32; value: number[] };

/** Growable little-endian byte buffer for the header. */
class ByteWriter {
  private buffer = Buffer.alloc(1 << 16);
  length = 0;

  private ensure(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    const next = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + extra));
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }
  u32(value: number): void { this.ensure(4); this.buffer.writeUInt32LE(value, this.length); this.length += 4; }
  i32(value: number): void { this.ensure(4); this.buffer.writeInt32LE(value, this.length); this.length += 4; }
  f32(value: number): void { this.ensure(4); this.buffer.writeFloatLE(value, this.length); this.length += 4; }
  u64(value: number): void { this.ensure(8); this.buffer.writeBigUInt64LE(BigInt(value), this.length); this.length += 8; }
  u8(value: number): void { this.ensure(1); this.buffer.writeUInt8(value, this.length); this.length += 1; }
  bytes(bytes: Uint8Array): void { this.ensure(bytes.length); this.buffer.set(bytes, this.length); this.length += bytes.length; }
  string(value: string): void { const bytes = Buffer.from(value, 'utf8'); this.u64(bytes.length); this.bytes(bytes); }
  padTo(alignment: number): void { while (this.length % alignment !== 0) this.u8(0); }
  toBuffer(): Buffer { return this.buffer.subarray(0, this.length); }
}

function writeMeta(writer: ByteWriter, key: string, meta: MetaValue): void {
  writer.string(key);
  writer.u32(meta.type);
  switch (meta.type) {
    case ValueType.U32: writer.u32(meta.value); break;
    case ValueType.I32: writer.i32(meta.value); break;
    case ValueType.F32: writer.f32(meta.value); break;
    case ValueType.Bool: writer.u8(meta.value ? 1 : 0); break;
    case ValueType.String: writer.string(meta.value); break;
    case ValueType.Array:
      writer.u32(meta.itemType);
      writer.u64(meta.value.length);
      for (const item of meta.value) {
        if (meta.itemType === ValueType.String) writer.string(item as string);
        else if (meta.itemType === ValueType.F32) writer.f32(item as number);
        else writer.i32(item as number);
      }
  }
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half precision, round to nearest even (Node 20 has no Float16Array). */
export function toFloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1))) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half += 1;
  // A carry out of the mantissa rolls into the exponent, which is the correct rounding.
  return sign | half;
}

function encodeTensor(values: Float32Array, type: GgufWeightType): Buffer {
  if (type === 'F32') return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  if (type === 'F16') {
    const out = Buffer.alloc(values.length * 2);
    for (let i = 0; i < values.length; i++) out.writeUInt16LE(toFloat16Bits(values[i]!), i * 2);
    return out;
  }
  const blocks = values.length / 32;
  const out = Buffer.alloc(blocks * 34);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(values[b * 32 + i]!));
    const d = amax / 127;
    const inverse = d === 0 ? 0 : 1 / d;
    out.writeUInt16LE(toFloat16Bits(d), b * 34);
    for (let i = 0; i < 32; i++) out.writeInt8(Math.round(values[b * 32 + i]! * inverse), b * 34 + 2 + i);
  }
  return out;
}

function tensorBytes(elements: number, type: GgufWeightType | 'F32'): number {
  if (type === 'F32') return elements * 4;
  if (type === 'F16') return elements * 2;
  return (elements / 32) * 34;
}

/** SPM vocabulary: <unk>, <s>, </s>, 256 byte tokens, then normal pieces by decreasing score (reference §3.5). */
export function buildVocabulary(size: number): { tokens: string[]; scores: number[]; types: number[] } {
  if (size < 259) throw new Error(`vocabSize must be at least 259 (3 special + 256 byte tokens), got ${size}`);
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  const seen = new Set(tokens);
  const pieces: string[] = ['\u2581'];
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (const c of letters) pieces.push(c);
  for (const c of letters) pieces.push(`\u2581${c}`);
  for (let code = 33; code < 127; code++) pieces.push(String.fromCharCode(code));
  for (const word of ['the', 'hello', 'world', 'test', 'and', 'is', 'of', 'to', 'in', 'you', 'be', 'brief', 'json', 'model']) {
    pieces.push(`\u2581${word}`, word);
  }
  outer: for (const a of letters) {
    for (const b of letters) {
      pieces.push(a + b, `\u2581${a}${b}`);
      if (pieces.length > size) break outer;
    }
  }
  for (let i = 0; pieces.length < size; i++) pieces.push(`\u2581t${i}`);
  for (const piece of pieces) {
    if (tokens.length >= size) break;
    if (seen.has(piece)) continue;
    seen.add(piece);
    tokens.push(piece);
    types.push(1);
  }
  const scores = tokens.map((_, i) => (i < 259 ? 0 : -(i - 258)));
  return { tokens, scores, types };
}

interface TensorPlan { name: string; shape: number[]; type: GgufWeightType | 'F32'; fill: 'ones' | number }

/** Writes the model to `path` and returns what was written. */
export function writeTinyLlamaGguf(path: string, options: TinyModelOptions = {}): TinyModelSummary {
  const vocabSize = options.vocabSize ?? 300;
  const embd = options.embd ?? 64;
  const layers = options.layers ?? 2;
  const heads = options.heads ?? 4;
  const kvHeads = options.kvHeads ?? heads;
  const ff = options.ff ?? 128;
  const contextLength = options.contextLength ?? 256;
  const weightType = options.weightType ?? 'Q8_0';
  const random = seededRandom(options.seed ?? 42);
  const headDim = embd / heads;
  if (weightType === 'Q8_0' && (embd % 32 !== 0 || ff % 32 !== 0)) throw new Error('Q8_0 needs embd and ff multiples of 32');

  const vocab = buildVocabulary(vocabSize);
  const forced = options.forceToken === undefined ? -1 : vocab.tokens.indexOf(options.forceToken);
  if (options.forceToken !== undefined && (forced < 0 || options.tiedOutput)) {
    throw new Error(`forceToken "${options.forceToken}" needs an untied output and a piece of the vocabulary`);
  }
  const meta: [string, MetaValue][] = [
    ['general.architecture', { type: ValueType.String, value: 'llama' }],
    ['general.name', { type: ValueType.String, value: options.name ?? 'tiny-test' }],
    ['general.alignment', { type: ValueType.U32, value: ALIGNMENT }],
    ['general.file_type', { type: ValueType.U32, value: FILE_TYPE[weightType] }],
    ['general.quantization_version', { type: ValueType.U32, value: 2 }],
    ['llama.vocab_size', { type: ValueType.U32, value: vocabSize }],
    ['llama.context_length', { type: ValueType.U32, value: contextLength }],
    ['llama.embedding_length', { type: ValueType.U32, value: embd }],
    ['llama.block_count', { type: ValueType.U32, value: layers }],
    ['llama.feed_forward_length', { type: ValueType.U32, value: ff }],
    ['llama.attention.head_count', { type: ValueType.U32, value: heads }],
    ['llama.attention.head_count_kv', { type: ValueType.U32, value: kvHeads }],
    ['llama.rope.dimension_count', { type: ValueType.U32, value: headDim }],
    ['llama.rope.freq_base', { type: ValueType.F32, value: 10000 }],
    ['llama.attention.layer_norm_rms_epsilon', { type: ValueType.F32, value: 1e-5 }],
    ['tokenizer.ggml.model', { type: ValueType.String, value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: ValueType.Array, itemType: ValueType.String, value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: ValueType.Array, itemType: ValueType.F32, value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: ValueType.Array, itemType: ValueType.I32, value: vocab.types }],
    ['tokenizer.ggml.bos_token_id', { type: ValueType.U32, value: 1 }],
    ['tokenizer.ggml.eos_token_id', { type: ValueType.U32, value: 2 }],
    ['tokenizer.ggml.unknown_token_id', { type: ValueType.U32, value: 0 }],
    ['tokenizer.ggml.add_bos_token', { type: ValueType.Bool, value: true }],
    ['tokenizer.ggml.add_eos_token', { type: ValueType.Bool, value: false }],
  ];
  if (options.license) meta.push(['general.license', { type: ValueType.String, value: options.license }]);
  if (options.chatTemplate) meta.push(['tokenizer.chat_template', { type: ValueType.String, value: options.chatTemplate }]);

  const kvDim = headDim * kvHeads;
  const plan: TensorPlan[] = [{ name: 'token_embd.weight', shape: [embd, vocabSize], type: weightType, fill: 1 }];
  for (let n = 0; n < layers; n++) {
    plan.push(
      { name: `blk.${n}.attn_norm.weight`, shape: [embd], type: 'F32', fill: 'ones' },
      { name: `blk.${n}.attn_q.weight`, shape: [embd, embd], type: weightType, fill: 1 / Math.sqrt(embd) },
      { name: `blk.${n}.attn_k.weight`, shape: [embd, kvDim], type: weightType, fill: 1 / Math.sqrt(embd) },
      { name: `blk.${n}.attn_v.weight`, shape: [embd, kvDim], type: weightType, fill: 1 / Math.sqrt(embd) },
      { name: `blk.${n}.attn_output.weight`, shape: [embd, embd], type: weightType, fill: 1 / Math.sqrt(embd) },
      { name: `blk.${n}.ffn_norm.weight`, shape: [embd], type: 'F32', fill: 'ones' },
      { name: `blk.${n}.ffn_gate.weight`, shape: [embd, ff], type: weightType, fill: 1 / Math.sqrt(embd) },
      { name: `blk.${n}.ffn_up.weight`, shape: [embd, ff], type: weightType, fill: 1 / Math.sqrt(embd) },
      { name: `blk.${n}.ffn_down.weight`, shape: [ff, embd], type: weightType, fill: 1 / Math.sqrt(ff) },
    );
  }
  plan.push({ name: 'output_norm.weight', shape: [embd], type: 'F32', fill: 'ones' });
  if (!options.tiedOutput) plan.push({ name: 'output.weight', shape: [embd, vocabSize], type: weightType, fill: 1 / Math.sqrt(embd) });

  const header = new ByteWriter();
  header.bytes(Buffer.from('GGUF', 'ascii'));
  header.u32(3);
  header.u64(plan.length);
  header.u64(meta.length);
  for (const [key, value] of meta) writeMeta(header, key, value);
  let offset = 0;
  let parameters = 0;
  const offsets: number[] = [];
  for (const tensor of plan) {
    const elements = tensor.shape.reduce((a, b) => a * b, 1);
    parameters += elements;
    header.string(tensor.name);
    header.u32(tensor.shape.length);
    for (const dim of tensor.shape) header.u64(dim);
    header.u32(GGML_TYPE[tensor.type]);
    header.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(tensorBytes(elements, tensor.type) / ALIGNMENT) * ALIGNMENT;
  }
  header.padTo(ALIGNMENT);

  const fd = openSync(path, 'w');
  let written = 0;
  try {
    written += writeSync(fd, header.toBuffer());
    const dataStart = written;
    plan.forEach((tensor, index) => {
      const elements = tensor.shape.reduce((a, b) => a * b, 1);
      const values = new Float32Array(elements);
      if (tensor.fill === 'ones') values.fill(1);
      else {
        // Uniform on [-a, a] has sd a/√3; scale so sd equals the planned value.
        const a = tensor.fill * Math.sqrt(3);
        for (let i = 0; i < elements; i++) values[i] = (random() * 2 - 1) * a;
      }
      if (forced >= 0 && tensor.name === 'token_embd.weight') for (let t = 0; t < vocabSize; t++) values[t * embd] = FORCE_EMBEDDING;
      if (forced >= 0 && tensor.name === 'output.weight') {
        for (let t = 0; t < vocabSize; t++) values[t * embd] = 0;
        values[forced * embd] = FORCE_OUTPUT;
      }
      const padding = dataStart + offsets[index]! - written;
      if (padding > 0) written += writeSync(fd, Buffer.alloc(padding));
      written += writeSync(fd, encodeTensor(values, tensor.type));
    });
    const tail = dataStart + offset - written;
    if (tail > 0) written += writeSync(fd, Buffer.alloc(tail));
  } finally {
    closeSync(fd);
  }
  return { path, sizeBytes: written, parameters, vocabSize, embd, contextLength };
}
