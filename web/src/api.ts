// Talks to Flexi with the session cookie. Every change carries the session's CSRF token.
import type { AgreementResponse, MeResponse, UiChat, UiChatSummary, UiModel, UiPublicConfig } from '../../src/api/ui.js';
import type { AdminApiKey as ApiKey, CreatedApiKey } from '../../src/api/admin.js';
import type { UsableTemplateWire } from '../../src/api/templates.js';
import type { Collection, CollectionDocument, CollectionSearchResponse, UpdateCollectionRequest, UploadDocumentResponse } from '../../src/api/collections.js';

export type { EnergyLiveJson, EnergyReportJson, OwnEnergyJson } from '../../src/api/energy.js';
export type { AgreementResponse, MeResponse, UiAnswerEvent, UiChat, UiChatMessage, UiChatSummary, UiModel, UiBudget, UiUser, FinishReason } from '../../src/api/ui.js';
export type { TemplateParameterWire, UsableTemplateWire } from '../../src/api/templates.js';
export type { AdminApiKey as ApiKey, AdminNode, AdminNodeReply, AdminSchedulerReply, CreatedApiKey } from '../../src/api/admin.js';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly param?: string | null) {
    super(message);
  }
}

let csrfToken = '';
let onAuthLost: ((code: string) => void) | undefined;

export function setCsrfToken(token: string | null | undefined): void {
  csrfToken = token ?? '';
}

export function csrfHeader(): Record<string, string> {
  return csrfToken ? { 'x-csrf-token': csrfToken } : {};
}

/** Called when the server says the session ended (401) or the agreement is needed (403 agreement_required). */
export function onSessionProblem(handler: (code: string) => void): void {
  onAuthLost = handler;
}

export async function toApiError(response: Response, notifySessionLost = true): Promise<ApiError> {
  let body: { error?: { message?: string; code?: string; param?: string | null } | string } = {};
  try {
    body = await response.json();
  } catch {
    // not JSON: keep the status text
  }
  const error = typeof body.error === 'object' ? body.error : { message: body.error };
  const apiError = new ApiError(response.status, error?.code ?? String(response.status), error?.message ?? response.statusText, error?.param);
  if (notifySessionLost && (response.status === 401 || apiError.code === 'agreement_required')) onAuthLost?.(apiError.code);
  return apiError;
}

const ME_PATH = '/auth/me';

/**
 * One JSON call. A 401 anywhere tells the app the session is gone (it boots again) — except from
 * `/auth/me` itself, the call that boot makes to find out: that would loop while signed out.
 */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') Object.assign(headers, csrfHeader());
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  if (!response.ok) throw await toApiError(response, path !== ME_PATH);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const getMe = () => api<MeResponse>('GET', ME_PATH);
export const getPublicConfig = () => api<UiPublicConfig>('GET', '/ui/config');
export const login = (email: string, password: string) => api<{ csrf_token: string }>('POST', '/auth/login', { email, password });
export const logout = () => api<void>('POST', '/auth/logout');
export const changePassword = (currentPassword: string, newPassword: string) =>
  api<void>('POST', '/auth/password', { current_password: currentPassword, new_password: newPassword });
/** An admin sets (resets) a user's password; the user's sessions end. */
export const setUserPassword = (userId: string, password: string) => api<unknown>('PATCH', `/admin/v1/users/${encodeURIComponent(userId)}`, { password });
export const getAgreement = () => api<AgreementResponse>('GET', '/auth/agreement');
export const acceptAgreement = (version: string) => api<AgreementResponse>('POST', '/auth/agreement/accept', { version });

export const listModels = () => api<{ data: UiModel[] }>('GET', '/ui/v1/models').then((r) => r.data);
export const listChats = (q = '') => api<{ data: UiChatSummary[] }>('GET', `/ui/v1/chats${q ? `?q=${encodeURIComponent(q)}` : ''}`).then((r) => r.data);
export const getChat = (id: string) => api<UiChat>('GET', `/ui/v1/chats/${encodeURIComponent(id)}`);
export const createChat = (body: { model?: string | null; system_prompt?: string | null; temperature?: number | null }) => api<UiChat>('POST', '/ui/v1/chats', body);
export const updateChat = (id: string, body: { title?: string; model?: string | null; system_prompt?: string | null; temperature?: number | null }) =>
  api<UiChat>('PATCH', `/ui/v1/chats/${encodeURIComponent(id)}`, body);
export const deleteChat = (id: string) => api<void>('DELETE', `/ui/v1/chats/${encodeURIComponent(id)}`);
export const deleteAllChats = () => api<{ deleted: number }>('DELETE', '/ui/v1/chats');
export const appendMessages = (id: string, messages: { role: 'user' | 'assistant'; content: string; model?: string | null; finish?: string | null }[], replaceFrom?: string) =>
  api<UiChat>('POST', `/ui/v1/chats/${encodeURIComponent(id)}/messages`, { messages, ...(replaceFrom ? { replace_from: replaceFrom } : {}) });

/** The user's Stop: the server ends the answer and stores it as stopped. */
export const stopAnswer = (id: string) => api<void>('POST', `/ui/v1/chats/${encodeURIComponent(id)}/answer/stop`);
export const getChatKeyStatus = () => api<{ enabled: boolean; unlocked: boolean; recovery_key: boolean }>('GET', '/ui/v1/chat-key');
export const createRecoveryKey = () => api<{ recovery_key: string }>('POST', '/ui/v1/chat-key/recovery');
export const unlockChats = (recoveryKey: string, password?: string) =>
  api<void>('POST', '/ui/v1/chat-key/unlock', { recovery_key: recoveryKey, ...(password ? { password } : {}) });

/** A download link for one chat or (without id) all chats. */
export function exportUrl(format: 'json' | 'markdown', id?: string): string {
  return id ? `/ui/v1/chats/${encodeURIComponent(id)}/export?format=${format}` : `/ui/v1/chats/export?format=${format}`;
}

export const listOwnKeys = () => api<{ data: ApiKey[] }>('GET', '/auth/keys').then((r) => r.data);
export const createOwnKey = (name: string, expiresInDays?: number) =>
  api<CreatedApiKey>('POST', '/auth/keys', { name, ...(expiresInDays ? { expires_in_days: expiresInDays } : {}) });
export const revokeOwnKey = (id: string) => api<ApiKey>('DELETE', `/auth/keys/${encodeURIComponent(id)}`);

/** The prompt templates the user may use (`template:<name>`), with their parameters. */
export const listUsableTemplates = () => api<{ data: UsableTemplateWire[] }>('GET', '/ui/v1/templates').then((r) => r.data);

/** One answer from a template: the text as the user message, the form's values as `template_params`. */
export async function tryTemplate(model: string, input: string, params: Record<string, string | number | boolean>): Promise<string> {
  const reply = await api<{ choices: { message: { content: string | null } }[] }>('POST', '/v1/chat/completions', {
    model, messages: [{ role: 'user', content: input }], template_params: params,
  });
  return reply.choices[0]?.message.content ?? '';
}

// Course bots: collections of course material (owners manage them, members ask `course:<name>`).
export type { Collection, CollectionDocument, CollectionSearchResponse, UploadDocumentResponse } from '../../src/api/collections.js';

const collectionPath = (name: string) => `/ui/v1/collections/${encodeURIComponent(name)}`;
export const listCollections = () => api<{ data: Collection[] }>('GET', '/ui/v1/collections').then((r) => r.data);
export const getCollection = (name: string) => api<Collection>('GET', collectionPath(name));
export const updateCollection = (name: string, body: UpdateCollectionRequest) => api<Collection>('PATCH', collectionPath(name), body);
export const listDocuments = (name: string) => api<{ data: CollectionDocument[] }>('GET', `${collectionPath(name)}/documents`).then((r) => r.data);
export const removeDocument = (name: string, id: string) => api<unknown>('DELETE', `${collectionPath(name)}/documents/${encodeURIComponent(id)}`);
export const searchCollection = (name: string, query: string, topK?: number) =>
  api<CollectionSearchResponse>('POST', `${collectionPath(name)}/search`, { query, ...(topK ? { top_k: topK } : {}) });

/**
 * Uploads one file as it is (the body is the file's bytes), reporting the bytes sent: fetch()
 * cannot report upload progress, XMLHttpRequest can.
 */
export function uploadDocument(name: string, file: File, onProgress: (sent: number, total: number) => void): Promise<UploadDocumentResponse> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${collectionPath(name)}/documents?name=${encodeURIComponent(file.name)}`);
    for (const [header, value] of Object.entries(csrfHeader())) xhr.setRequestHeader(header, value);
    xhr.setRequestHeader('content-type', file.type || 'application/octet-stream');
    xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    xhr.onload = () => {
      let body: { error?: { message?: string; code?: string; param?: string | null } } & Partial<UploadDocumentResponse> = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as UploadDocumentResponse);
      else reject(new ApiError(xhr.status, body.error?.code ?? String(xhr.status), body.error?.message ?? xhr.statusText, body.error?.param));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'The upload was interrupted.'));
    xhr.send(file);
  });
}
