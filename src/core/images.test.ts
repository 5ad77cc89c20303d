import { describe, expect, it } from 'vitest';
import { checkImage, checkMessageImages, sniffImageFormat, takesImages } from './images.js';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const bytes = (...values: number[]) => Uint8Array.from(values);
const LIMITS = { maxImageBytes: 1024, maxImagesPerRequest: 2 };

describe('sniffImageFormat', () => {
  it('knows PNG, JPEG, GIF87a/89a and WebP by their first bytes, and nothing else', () => {
    expect(sniffImageFormat(Buffer.from(PNG, 'base64'))).toBe('png');
    expect(sniffImageFormat(bytes(0xff, 0xd8, 0xff, 0xe0))).toBe('jpeg');
    expect(sniffImageFormat(Buffer.from('GIF89a....'))).toBe('gif');
    expect(sniffImageFormat(Buffer.from('GIF87a....'))).toBe('gif');
    expect(sniffImageFormat(Buffer.from('RIFF\u0000\u0000\u0000\u0000WEBPVP8 '))).toBe('webp');
    expect(sniffImageFormat(Buffer.from('RIFF\u0000\u0000\u0000\u0000WAVEfmt '))).toBeUndefined();
    expect(sniffImageFormat(Buffer.from('GIF88a'))).toBeUndefined();
    expect(sniffImageFormat(Buffer.from('%PDF-1.7'))).toBeUndefined();
    expect(sniffImageFormat(bytes())).toBeUndefined();
  });
});

describe('checkImage and checkMessageImages', () => {
  it('accepts a real image and names the field of a bad one', () => {
    expect(checkImage(PNG, 'images[0]', LIMITS)).toBe('png');
    expect(() => checkImage('not base64!', 'images[0]', LIMITS)).toThrow(/'images\[0\]' is not valid base64/);
    expect(() => checkImage(Buffer.from('hello world!').toString('base64'), 'images[0]', LIMITS)).toThrow(/not a PNG, JPEG, WebP or GIF/);
    expect(() => checkImage(Buffer.concat([Buffer.from(PNG, 'base64'), Buffer.alloc(2048)]).toString('base64'), 'images[1]', LIMITS)).toThrow(/at most 1024 bytes/);
  });

  it('counts images over all messages against the limit', () => {
    expect(checkMessageImages([{ images: [PNG] }, {}, { images: [PNG] }], LIMITS)).toBe(2);
    expect(() => checkMessageImages([{ images: [PNG, PNG] }, { images: [PNG] }], LIMITS)).toThrow(/At most 2 images per request \(chat.max_images_per_request\); 'messages\[1\]\.images\[0\]'/);
  });
});

describe('takesImages', () => {
  it('reads vision from capabilities, from a clip or mllama family, or from the operator\'s globs', () => {
    expect(takesImages('a:latest', { name: 'a:latest', capabilities: ['completion', 'vision'] })).toBe(true);
    expect(takesImages('a:latest', { name: 'a:latest', families: ['llama', 'clip'] })).toBe(true);
    expect(takesImages('a:latest', { name: 'a:latest', families: ['mllama'] })).toBe(true);
    expect(takesImages('qwen2-vl-7b:latest', { name: 'qwen2-vl-7b:latest' }, ['*-vl*'])).toBe(true);
    expect(takesImages('llava:latest', { name: 'llava:latest' }, ['llava'])).toBe(true);
    expect(takesImages('llama3:latest', { name: 'llama3:latest', capabilities: ['completion', 'tools'], families: ['llama'] }, ['llava*'])).toBe(false);
  });
});
