import { z } from 'zod';

/**
 * Wire types of the web UI's own API (`/ui/v1`, `/auth/agreement`), shared by the server and
 * the browser app (web/ imports these types only). Snake_case like every Flexi wire format.
 */

const title = z.string().max(200).describe('Chat title; empty: taken from the first message.');
const systemPrompt = z.string().max(20_000).describe('System prompt sent before the conversation.');
const temperature = z.number().min(0).max(2).describe('Sampling temperature, 0 to 2.');
const modelName = z.string().min(1).max(200).describe('Model name as `/v1/models` lists it.');

export const createChatRequestSchema = z.object({
  title: title.optional(),
  model: modelName.nullable().optional(),
  system_prompt: systemPrompt.nullable().optional(),
  temperature: temperature.nullable().optional(),
}).strict();

export const updateChatRequestSchema = createChatRequestSchema;

export const MESSAGE_MAX_CHARS = 500_000;

/** An image the user attached, as a data: URL (the server sniffs the bytes; the type named here is not trusted). */
const imageDataUrl = z.string().max(24 * 1024 * 1024).regex(/^data:image\/[a-z0-9.+-]+;base64,[A-Za-z0-9+/]*={0,2}$/i, 'a base64 data: URL of an image')
  .describe('An attached image as a data: URL (`data:image/png;base64,…`).');
const images = z.array(imageDataUrl).max(16).describe('Images attached to a user turn (vision models only).');

export const appendMessagesRequestSchema = z.object({
  messages: z.array(z.object({
    role: z.enum(['user', 'assistant']),
    content: z.string().max(MESSAGE_MAX_CHARS),
    model: modelName.nullable().optional().describe('Model that wrote an assistant turn.'),
    finish: z.enum(['stop', 'length', 'stopped', 'error']).nullable().optional().describe('How an assistant turn ended; `stopped`: the user pressed stop.'),
    images: images.optional(),
  }).strict()).max(4),
  replace_from: z.string().min(1).max(64).optional().describe('Id of a message of this chat: it and every later message are replaced (edit and resend, regenerate).'),
}).strict();

/** POST /ui/v1/chats/:id/answer: the server writes the answer and keeps it when the browser leaves. */
export const startAnswerRequestSchema = z.object({
  model: modelName,
  message: z.object({
    content: z.string().max(MESSAGE_MAX_CHARS).describe('The user\'s new turn.'),
    images: images.optional(),
  }).strict().optional().describe('A new user turn to append first; left out to answer the conversation as it is (regenerate).'),
  replace_from: z.string().min(1).max(64).optional().describe('Id of a message of this chat: it and every later message are replaced first (edit and resend, regenerate).'),
}).strict();

export const acceptAgreementRequestSchema = z.object({
  version: z.string().min(1).max(64).describe('The version the user read (from GET /auth/agreement).'),
}).strict();

export type CreateChatRequest = z.infer<typeof createChatRequestSchema>;
export type UpdateChatRequest = z.infer<typeof updateChatRequestSchema>;
export type AppendMessagesRequest = z.infer<typeof appendMessagesRequestSchema>;
export type StartAnswerRequest = z.infer<typeof startAnswerRequestSchema>;

export type FinishReason = 'stop' | 'length' | 'stopped' | 'error';

/** A model the signed-in user may use (GET /ui/v1/models). */
export interface UiModel {
  id: string;
  /** One line for the model picker: from `models.descriptions`, else family, size, quantisation. */
  description: string;
  family: string | null;
  parameter_size: string | null;
  quantization: string | null;
  context_length: number | null;
  /** Whether the model takes images (the composer offers an attach button only then). */
  vision: boolean;
}

export interface UiChatSummary {
  id: string;
  title: string;
  model: string | null;
  system_prompt: string | null;
  temperature: number | null;
  created_at: string;
  updated_at: string;
  /** Encrypted with a key this session does not hold: listed without its title; opening it gives 403 chats_locked. */
  locked: boolean;
}

export interface UiChatMessage {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  model: string | null;
  finish: FinishReason | null;
  created_at: string;
  /** Images attached to a user turn, as data: URLs. */
  images: string[];
  /** The server is writing this answer now (GET /ui/v1/chats/:id/answer attaches to it). */
  streaming: boolean;
}

export interface UiChat extends UiChatSummary {
  messages: UiChatMessage[];
}

/**
 * The events of an answer the server writes (`POST /ui/v1/chats/:id/answer`, `GET …/answer`),
 * one JSON object per SSE `data:` line.
 */
export type UiAnswerEvent =
  /** The chat with the new user turn and the (empty) answer being written. */
  | { type: 'started'; chat: UiChat }
  /** Attached to an answer in progress: what it has so far. */
  | { type: 'snapshot'; message_id: string; content: string }
  | { type: 'queued'; position: number; eta_ms: number | null }
  | { type: 'delta'; content: string }
  /** The answer is stored; the chat as it is now. */
  | { type: 'done'; chat: UiChat }
  /** The answer failed; it is stored as failed (with what arrived before). */
  | { type: 'error'; status: number; code: string; message: string; chat: UiChat | null };

/** GET /auth/agreement. */
export interface AgreementResponse {
  version: string;
  /** Markdown per language. */
  text: { en: string; de: string };
  accepted: boolean;
  accepted_at: string | null;
}

export interface UiBudget {
  period: 'day' | 'week' | 'term';
  limit: number;
  used: number;
  resets_at: string;
}

export interface UiUser {
  id: string;
  email: string;
  display_name: string | null;
  roles: string[];
  created_at: string;
  last_login_at: string | null;
  disabled: boolean;
  disabled_at: string | null;
}

/** GET /auth/me (see docs/identity.md). */
export interface MeResponse {
  user: UiUser | null;
  roles: string[];
  policy: {
    api_keys: boolean;
    admin: boolean;
    models: string[];
    max_tokens_per_request: number | null;
    /** The role's `default_model`: the model picker selects it when the user may use it. */
    default_model: string | null;
    [key: string]: unknown;
  };
  budgets: UiBudget[];
  csrf_token?: string | null;
  /** Whether single sign-on is configured (the login page shows its button). */
  sso?: boolean;
}

/** GET /ui/v1/config: what the login page needs before anyone signed in. */
export interface UiPublicConfig {
  sso: boolean;
}

/** Exported chats (JSON export of one chat or all of them). */
export interface ChatExport {
  exported_at: string;
  chats: UiChat[];
}
