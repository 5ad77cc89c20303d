import { z } from 'zod';

/**
 * Wire types of course collections (the material behind a `course:<name>` bot): the client-facing
 * search (`POST /v1/collections/<name>/search`) and the management API under `/ui/v1/collections`
 * (owners in the web UI; the same routes serve admins and API keys). Shared by the server, the CLI
 * and the web app. Snake_case like every Flexi wire format.
 */

export const COLLECTION_STRICTNESS = ['strict', 'lenient'] as const;
export const DOCUMENT_STATUSES = ['queued', 'processing', 'ready', 'failed'] as const;

const description = z.string().max(2000).describe('What the collection (the course bot) is for, shown to the course\'s members.');
const instructions = z.string().max(20_000).describe('The bot\'s instructions: a system prompt given to the model before the excerpts.');
const chatModel = z.string().min(1).max(200).describe('The real model that answers (as `/v1/models` lists it); null: `courses.default_chat_model`.');
const strictness = z.enum(COLLECTION_STRICTNESS).describe('`strict`: when no passage is relevant enough the bot answers with its refusal text and asks no model; `lenient`: it always asks the model.');
const refusalText = z.string().min(1).max(2000).describe('What a strict bot answers when its material has nothing relevant; null: `courses.refusal_text`.');
const topK = z.number().int().min(1).max(20).describe('Excerpts given to the model with each question, 1–20.');

/** The bot's settings: what a lecturer may set when creating a collection and change later. */
const settingsFields = {
  description: description.nullable().optional(),
  instructions: instructions.nullable().optional(),
  chat_model: chatModel.nullable().optional(),
  strictness: strictness.optional(),
  refusal_text: refusalText.nullable().optional(),
  top_k: topK.optional(),
};

/** POST /ui/v1/collections */
export const createCollectionRequestSchema = z.object({
  name: z.string().min(1).max(63).regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, ".", "_" and "-", starting with a letter or digit')
    .describe('Unique name; the bot is the model `course:<name>`.'),
  group: z.string().min(1).max(200).describe('The course (group) it belongs to, by id or name.'),
  ...settingsFields,
}).strict();

/** PATCH /ui/v1/collections/<name> */
export const updateCollectionRequestSchema = z.object(settingsFields).strict();

/** POST /v1/collections/<name>/search (and /ui/v1/collections/<name>/search) */
export const collectionSearchRequestSchema = z.object({
  query: z.string().min(1).max(4000).describe('The question or search words.'),
  top_k: z.number().int().min(1).max(50).optional().describe('Passages to return (default: the bot\'s top_k).'),
}).strict();

export type CreateCollectionRequest = z.infer<typeof createCollectionRequestSchema>;
export type UpdateCollectionRequest = z.infer<typeof updateCollectionRequestSchema>;
export type CollectionSearchRequest = z.infer<typeof collectionSearchRequestSchema>;

/** A collection as its course's members see it. */
export interface Collection {
  id: string;
  name: string;
  /** The virtual model that answers over it. */
  model: string;
  group: { id: string; name: string };
  description: string | null;
  instructions: string | null;
  chat_model: string | null;
  strictness: (typeof COLLECTION_STRICTNESS)[number];
  refusal_text: string | null;
  top_k: number;
  /** The caller's role: `owner` and `admin` manage it, `member` asks. */
  role: 'admin' | 'owner' | 'member';
  documents: number;
  chunks: number;
  created_at: string;
  updated_at: string;
}

/** A document of a collection. */
export interface CollectionDocument {
  id: string;
  /** The file name (sanitised); documents are named by it. */
  name: string;
  status: (typeof DOCUMENT_STATUSES)[number];
  /** Why ingestion failed. */
  error: string | null;
  format: string | null;
  pages: number | null;
  chunks: number | null;
  bytes: number;
  content_type: string;
  /** SHA-256 of the file. */
  content_hash: string;
  /** Ingestion progress of a processing document (pages, then passages). */
  progress: { done: number; total: number };
  created_at: string;
  updated_at: string;
}

/** PUT /ui/v1/collections/<name>/documents/<file name> (raw bytes): the stored document. */
export interface UploadDocumentResponse {
  document: CollectionDocument;
  /** `unchanged`: the same name and content were there already (nothing is re-indexed). */
  change: 'created' | 'replaced' | 'unchanged';
}

/** One retrieved passage. */
export interface CollectionSearchHit {
  /** The document's name. */
  document: string;
  page?: number;
  /** The last page, when the passage runs across a page break. */
  page_end?: number;
  section?: string;
  text: string;
  score: number;
}

export interface CollectionSearchResponse {
  object: 'list';
  data: CollectionSearchHit[];
  /** The strict-mode decision: whether the passages are relevant enough to answer from. */
  relevant: boolean;
}
