import type { StartAnswerRequest, UiAnswerEvent, UiChat, UiChatMessage, FinishReason } from '../api/ui.js';
import { FlexiError, toFlexiError } from '../core/errors.js';
import { checkMessageImages, modelWithoutVision } from '../core/images.js';
import type { ChatMessage, ChatRequest } from '../core/types.js';
import type { ChatOwner, ChatService } from './chat.service.js';
import type { Principal } from './identity/access-control.service.js';
import { sourceFootnotes } from './courses/source-footnotes.js';
import type { ImageRules, InferenceService, RequestContext } from './inference/inference.service.js';

export type AnswerListener = (event: UiAnswerEvent) => void;

/** An answer the server is writing now. */
interface LiveAnswer {
  chatId: string;
  userId: string;
  messageId: string;
  content: string;
  listeners: Set<AnswerListener>;
  controller: AbortController;
  /** Why it was aborted, if it was: the user's Stop, or the time limit. */
  stoppedBy?: 'user' | 'timeout';
}

export interface ChatAnswerOptions {
  /** Config `chat.answer_timeout_ms`: the longest an answer runs on the server. */
  timeoutMs: number;
  images: ImageRules;
  onError?: (message: string, details: Record<string, unknown>) => void;
}

const DATA_URL = /^data:image\/[a-z0-9.+-]+;base64,/i;

/**
 * Web-UI answers written by the server, not the browser: the generation belongs to the chat,
 * not to the HTTP connection that asked for it, so closing the tab or losing the network does
 * not stop it. Browsers follow it as server-sent events; one that comes back attaches to it
 * (snapshot, then the rest) or, when it is done, finds it stored. Only the user's Stop (or
 * `chat.answer_timeout_ms`) ends it early; it is stored with what it had. Live answers are held
 * in this process: with several replicas a browser must come back to the same one (sticky
 * sessions) to attach; elsewhere it sees the answer once it is stored.
 */
export class ChatAnswerService {
  private readonly live = new Map<string, LiveAnswer>();
  private readonly starting = new Set<string>();

  constructor(private readonly chats: ChatService, private readonly inference: InferenceService, private readonly options: ChatAnswerOptions) {}

  /** How many answers are being written now (tests, shutdown). */
  get running(): number {
    return this.live.size;
  }

  /** The chat with the answer being written marked `streaming` and filled with what it has so far. */
  withLiveState(chat: UiChat): UiChat {
    const live = this.live.get(chat.id);
    return { ...chat, messages: chat.messages.map((m) => markLive(m, live)) };
  }

  /**
   * Appends the user's turn and an empty answer, and starts writing it. Checks what can fail
   * before anything is stored (model, images); admission, queueing and the node come after,
   * as events. `listener` gets every event of this answer until it is done.
   */
  async start(owner: ChatOwner, principal: Principal, chatId: string, input: StartAnswerRequest, requestId: string, listener: AnswerListener): Promise<UiChat> {
    if (this.live.has(chatId) || this.starting.has(chatId)) throw new FlexiError('conflict', 'An answer is being written in this chat: wait for it or stop it first.');
    // Reserved across the awaits below: two starts at once must not both append their turns.
    this.starting.add(chatId);
    let chat: UiChat;
    try {
      await this.checkInput(input);
      const turns = input.message ? [{ role: 'user' as const, content: input.message.content, images: input.message.images }] : [];
      chat = await this.chats.append(owner, chatId, [...turns, { role: 'assistant', content: '', model: input.model, finish: null }], input.replace_from);
    } finally {
      this.starting.delete(chatId);
    }
    const answer = chat.messages.at(-1)!;
    const live: LiveAnswer = { chatId, userId: owner.userId, messageId: answer.id, content: '', listeners: new Set([listener]), controller: new AbortController() };
    this.live.set(chatId, live);
    void this.run(live, owner, principal, toChatRequest(chat, input.model), requestId);
    return this.withLiveState(chat);
  }

  /** Images stored with turns the browser appends itself: the same checks as images sent to a model. */
  checkImages(messages: readonly { images?: readonly string[] }[]): void {
    checkMessageImages(messages.map((m) => ({ images: (m.images ?? []).map((url) => url.replace(DATA_URL, '')) })), this.options.images,
      (i, j) => `messages[${i}].images[${j}]`);
  }

  private async checkInput(input: StartAnswerRequest): Promise<void> {
    const images = (input.message?.images ?? []).map((url) => url.replace(DATA_URL, ''));
    checkMessageImages([{ images }], this.options.images, (_, j) => `message.images[${j}]`);
    // A course bot or template: its provider checks access when the answer is planned, and the real model's images then.
    if (this.inference.isVirtualModel(input.model)) return;
    const entry = await this.inference.resolveModel(input.model);
    if (images.length > 0 && !this.inference.capabilitiesOf(entry.name, entry.info).includes('vision')) throw modelWithoutVision(input.model, 'message.images');
  }

  /** Follows an answer being written: what it has so far, and a way to stop following. */
  follow(userId: string, chatId: string, listener: AnswerListener): { snapshot: UiAnswerEvent; unfollow: () => void } | undefined {
    const live = this.live.get(chatId);
    if (!live || live.userId !== userId) return undefined;
    live.listeners.add(listener);
    return { snapshot: { type: 'snapshot', message_id: live.messageId, content: live.content }, unfollow: () => live.listeners.delete(listener) };
  }

  /** Stops following (the browser went away); the answer goes on. */
  unfollow(chatId: string, listener: AnswerListener): void {
    this.live.get(chatId)?.listeners.delete(listener);
  }

  /** The user's Stop: the answer ends now and is stored as `stopped`. False when none is running. */
  stop(userId: string, chatId: string): boolean {
    const live = this.live.get(chatId);
    if (!live || live.userId !== userId) return false;
    live.stoppedBy ??= 'user';
    live.controller.abort();
    return true;
  }

  private emit(live: LiveAnswer, event: UiAnswerEvent): void {
    for (const listener of [...live.listeners]) listener(event);
  }

  private async run(live: LiveAnswer, owner: ChatOwner, principal: Principal, request: ChatRequest, requestId: string): Promise<void> {
    const timer = setTimeout(() => {
      live.stoppedBy ??= 'timeout';
      live.controller.abort();
    }, this.options.timeoutMs);
    timer.unref?.();
    let finish: FinishReason = 'stop';
    let failure: FlexiError | undefined;
    try {
      finish = await this.generate(live, principal, request, requestId);
    } catch (error) {
      if (live.stoppedBy) finish = 'stopped';
      else {
        finish = 'error';
        failure = toFlexiError(error);
      }
    } finally {
      clearTimeout(timer);
    }
    // Stored before the live entry goes, so a reader finds either the live answer or the stored one.
    await this.chats.finishAnswer(owner, live.chatId, live.messageId, live.content, finish).catch((error: unknown) => {
      this.options.onError?.('storing a chat answer failed', { chat: live.chatId, error: (error as Error).message });
    });
    this.live.delete(live.chatId);
    const chat = await this.chats.get(owner, live.chatId).catch(() => null);
    this.emit(live, failure
      ? { type: 'error', status: failure.status, code: failure.code, message: failure.message, chat }
      : { type: 'done', chat: chat ?? emptyChat(live.chatId) });
  }

  /** Runs the generation; returns how it ended. */
  private async generate(live: LiveAnswer, principal: Principal, request: ChatRequest, requestId: string): Promise<FinishReason> {
    const context: RequestContext = {
      // The same endpoint the browser used to call: role endpoint rules and usage reports stay as they were.
      requestId, endpoint: '/v1/chat/completions', protocol: 'openai', principal, signal: live.controller.signal, startedAtMs: performance.now(),
      onWaiting: (notice) => this.emit(live, { type: 'queued', position: notice.position, eta_ms: notice.estimatedWaitMs ?? null }),
    };
    const started = await this.inference.startChat(request, context);
    let finish: FinishReason = 'stop';
    const handle = (event: typeof started.first) => {
      if (event.type === 'delta' && event.content) {
        live.content += event.content;
        this.emit(live, { type: 'delta', content: event.content });
      } else if (event.type === 'done') {
        finish = event.finishReason === 'length' ? 'length' : 'stop';
        // A course bot's sources become footnotes of the stored answer (they open the cited page).
        const footnotes = sourceFootnotes(request.model, event.annotations?.sources);
        if (footnotes) {
          live.content += footnotes;
          this.emit(live, { type: 'delta', content: footnotes });
        }
      }
    };
    handle(started.first);
    for await (const event of started.events) handle(event);
    return finish;
  }
}

function markLive(message: UiChatMessage, live: LiveAnswer | undefined): UiChatMessage {
  if (live?.messageId === message.id) return { ...message, content: live.content, streaming: true };
  // An answer nobody is writing any more that never got its end: the process stopped under it.
  if (message.role === 'assistant' && message.finish === null) return { ...message, finish: 'error' };
  return message;
}

/** The conversation as the model sees it: system prompt, the turns before the answer, images as base64. */
function toChatRequest(chat: UiChat, model: string): ChatRequest {
  const messages: ChatMessage[] = chat.system_prompt ? [{ role: 'system', content: chat.system_prompt }] : [];
  for (const message of chat.messages.slice(0, -1)) {
    // Failed or empty answers say nothing the model should continue from.
    if (message.content.trim() === '' && message.images.length === 0) continue;
    const images = message.images.map((url) => url.replace(DATA_URL, ''));
    messages.push(images.length > 0 ? { role: message.role, content: message.content, images } : { role: message.role, content: message.content });
  }
  const request: ChatRequest = { model, messages, options: {} };
  if (chat.temperature !== null) request.options.temperature = chat.temperature;
  return request;
}

function emptyChat(id: string): UiChat {
  return { id, title: '', model: null, system_prompt: null, temperature: null, created_at: '', updated_at: '', locked: false, messages: [] };
}
