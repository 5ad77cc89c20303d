import { z } from 'zod';
import { GGUF_FILE_NAME } from '../core/model-file.js';

/**
 * Flexi admin API for models (`/admin/v1/models`): wire schemas and response types. Field names
 * are snake_case on this wire, as on the OpenAI and Ollama ones.
 */

/** `POST /admin/v1/models/pull`. */
export const adminPullRequestSchema = z.strictObject({
  /** `hf:owner/repo/file.gguf` or an http(s) URL of a GGUF file. */
  source: z.string().min(1).max(2048),
  /** Expected SHA-256 (hex) of the file. */
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits').optional(),
  /** Store under this file name (`name.gguf`: letters, digits, `._+-`) instead of the URL's. */
  file_name: z.string().min(1).max(255).regex(GGUF_FILE_NAME, 'must be a plain file name ending in .gguf (letters, digits, ".", "_", "+", "-"; no path, no control characters)').optional(),
  /** Embedded node whose folder receives the file; default the first embedded node. */
  node: z.string().min(1).max(63).optional(),
  /** NDJSON progress lines (default) or one JSON answer at the end. */
  stream: z.boolean().optional(),
});
export type AdminPullRequest = z.infer<typeof adminPullRequestSchema>;

/** One model on one node. */
export interface AdminModel {
  name: string;
  node: string;
  loaded: boolean;
  size_bytes: number | null;
  parameter_size: string | null;
  quantization: string | null;
  context_length: number | null;
  family: string | null;
  format: string | null;
  capabilities: string[];
  modified_at: string | null;
}

/** `GET /admin/v1/models`: every model on every node, and the nodes that could not be asked. */
export interface AdminModelList {
  models: AdminModel[];
  errors: { node: string; message: string }[];
}

/** One NDJSON line of a pull; the last is `status: "success"` (with the file) or carries `error`. */
export interface AdminPullProgressLine {
  status: string;
  completed?: number;
  total?: number;
  name?: string;
  path?: string;
  size_bytes?: number;
  sha256?: string;
  error?: string;
  /** Error code from the catalog (docs/errors.md), with `error`. */
  code?: string;
}
