import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError} from '../api';
import { createChat, getChat, stopAnswer, updateChat, type UiAnswerEvent, type UiChat, type UiChatMessage, type UiModel } from '../api';
import type { Workspace } from '../workspace';
import { Composer } from '../components/composer';
import { Icon } from '../components/icon';
import { MessageView, PendingAnswer, type Pending } from '../components/message';
import { ChatSettingsPanel, type ChatSettings } from '../components/chat-settings';
import { t } from '../i18n';
import { linkHandler, navigate } from '../router';
import { followAnswer } from '../stream';
import { readSetting, writeSetting } from '../storage';

const LAST_MODEL_KEY = 'flexi.model';

/** `llama3` and `llama3:latest` name the same model. */
function sameModel(a: string, b: string): boolean {
  return a === b || a === `${b}:latest` || b === `${a}:latest`;
}

/** The chat's model, else the user's last choice, else their role's default, else the first one they may use. */
function pickModel(models: UiModel[] | undefined, wanted: string | null | undefined, roleDefault: string | null): string {
  if (!models || models.length === 0) return wanted ?? '';
  if (wanted) {
    const hit = models.find((m) => sameModel(m.id, wanted));
    if (hit) return hit.id;
  }
  const last = readSetting(LAST_MODEL_KEY);
  return models.find((m) => m.id === last)?.id
    ?? (roleDefault ? models.find((m) => sameModel(m.id, roleDefault))?.id : undefined)
    ?? models[0]!.id;
}

/** The conversation: loads a chat (or starts a new one), streams answers, stores every turn. */
export function ChatPage({ workspace, chatId, onOpenMenu }: { workspace: Workspace; chatId?: string; onOpenMenu: () => void }) {
  const { models } = workspace;
  const [chat, setChat] = useState<UiChat | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [notFound, setNotFound] = useState(false);
  // `/?model=<name>`: an LTI launch (or any link) opens a new chat with that model selected.
  const [draft, setDraft] = useState<ChatSettings>(() => ({ model: new URLSearchParams(location.search).get('model') ?? '', system_prompt: null, temperature: null }));
  const [pending, setPending] = useState<Pending | undefined>(undefined);
  const [error, setError] = useState('');
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [announcement, setAnnouncement] = useState('');
  const controller = useRef<AbortController | undefined>(undefined);
  const logRef = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);
  const chatRef = useRef<UiChat | undefined>(undefined);
  chatRef.current = chat;

  const roleDefault = workspace.me.policy.default_model ?? null;
  const settings: ChatSettings = chat
    ? { model: pickModel(models, chat.model, roleDefault), system_prompt: chat.system_prompt, temperature: chat.temperature }
    : { ...draft, model: pickModel(models, draft.model, roleDefault) };
  const generating = pending !== undefined;

  // Load the chat named in the URL (unless this page just created it).
  useEffect(() => {
    setError('');
    setNotFound(false);
    if (!chatId) {
      controller.current?.abort();
      setChat(undefined);
      return;
    }
    if (chatRef.current?.id === chatId) return;
    controller.current?.abort();
    let cancelled = false;
    setLoading(true);
    getChat(chatId).then(
      (loaded) => {
        if (cancelled) return;
        setChat(loaded);
        // The answer is still being written (the page was closed or reloaded meanwhile): attach to it.
        const live = loaded.messages.find((m) => m.streaming);
        if (live) void follow(loaded, undefined, live.content);
      },
      (e: ApiError) => {
        if (cancelled) return;
        if (e.status === 404) setNotFound(true);
        else setError(e.message);
        setChat(undefined);
      },
    ).finally(() => !cancelled && setLoading(false));
    return () => {
      cancelled = true;
    };
  }, [chatId]);

  // Leaving the page stops following; the server goes on writing the answer and stores it.
  useEffect(() => () => controller.current?.abort(), []);

  useEffect(() => {
    const stop = (event: KeyboardEvent) => {
      if (event.key === 'Escape' && controller.current && !event.defaultPrevented) void stopCurrent();
    };
    window.addEventListener('keydown', stop);
    return () => window.removeEventListener('keydown', stop);
  }, []);

  // Follow the answer while the reader is at the bottom; let them scroll up in peace.
  useEffect(() => {
    const log = logRef.current;
    if (log && stickToBottom.current) log.scrollTop = log.scrollHeight;
  }, [chat, pending]);

  const onScroll = () => {
    const log = logRef.current;
    if (log) stickToBottom.current = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  };

  /**
   * Follows an answer the server writes: a new one (`body` given) or the one in progress. The
   * server keeps writing when this page goes away; it is stored when done.
   */
  const follow = useCallback(async (current: UiChat, body: unknown | undefined, soFar = '', attempt = 0): Promise<void> => {
    controller.current?.abort();
    const abort = new AbortController();
    controller.current = abort;
    stickToBottom.current = true;
    const state: Pending = { content: soFar, queued: undefined };
    setPending({ ...state });
    setAnnouncement('');
    let frame = 0;
    const flush = () => {
      frame = 0;
      setPending({ ...state });
    };
    const onEvent = (event: UiAnswerEvent) => {
      if (event.type === 'started') {
        setChat(event.chat);
        chatRef.current = event.chat;
        void workspace.refreshChats().catch(() => undefined);
      } else if (event.type === 'snapshot') {
        state.content = event.content;
      } else if (event.type === 'queued') {
        state.queued = { position: event.position, etaMs: event.eta_ms ?? undefined };
        setAnnouncement(t('queuedPosition', { position: event.position }));
      } else if (event.type === 'delta') {
        state.content += event.content;
        state.queued = undefined;
      }
      frame ||= requestAnimationFrame(flush);
    };
    let last: UiAnswerEvent | undefined;
    let failure: Error | undefined;
    try {
      last = await followAnswer(current.id, body, onEvent, abort.signal);
    } catch (e) {
      if (!abort.signal.aborted) failure = e as Error;
    }
    if (frame) cancelAnimationFrame(frame);
    if (abort.signal.aborted && controller.current !== abort) return;
    controller.current = undefined;
    const final = last && (last.type === 'done' || last.type === 'error') ? last.chat : undefined;
    if (final && chatRef.current?.id === final.id) setChat(final);
    else if (!abort.signal.aborted) {
      // The connection broke before the end (network, proxy): the server goes on. Show what is
      // stored and attach again while it is still being written; a refusal shows its message.
      const reloaded = await getChat(current.id).catch(() => undefined);
      if (reloaded && chatRef.current?.id === reloaded.id) {
        setChat(reloaded);
        const live = reloaded.messages.find((m) => m.streaming);
        if (live && attempt < 5) return follow(reloaded, undefined, live.content, attempt + 1);
      }
      if (failure) setError(failure.message);
    }
    setPending(undefined);
    if (last?.type === 'error') {
      setError(last.message);
      setAnnouncement(t('failed', { message: last.message }));
    } else {
      const finish = final?.messages.at(-1)?.finish;
      setAnnouncement(finish === 'stopped' ? t('stopped') : t('answerDone'));
    }
    void workspace.refreshChats().catch(() => undefined);
  }, [workspace]);

  async function stopCurrent() {
    const current = chatRef.current;
    if (!current || !controller.current) return;
    try {
      await stopAnswer(current.id);
    } catch (e) {
      // Already done: nothing to stop.
      if ((e as ApiError).status !== 404) setError((e as Error).message);
    }
  }

  /** Sends a new message, or (with `replaceFrom`) replaces one and everything after it. */
  async function send(text: string, images: string[] = [], replaceFrom?: string) {
    if (generating || !settings.model) return;
    setError('');
    try {
      let current = chat;
      if (!current) {
        current = await createChat({ model: settings.model, system_prompt: settings.system_prompt, temperature: settings.temperature });
        setChat(current);
        chatRef.current = current;
        navigate(`/c/${current.id}`);
      }
      const message = images.length > 0 ? { content: text, images } : { content: text };
      await follow(current, { model: settings.model, message, ...(replaceFrom ? { replace_from: replaceFrom } : {}) });
    } catch (e) {
      setPending(undefined);
      setError((e as Error).message);
    }
  }

  async function regenerate(message: UiChatMessage) {
    if (!chat || generating) return;
    setError('');
    await follow(chat, { model: settings.model, replace_from: message.id });
  }

  async function changeSettings(next: ChatSettings) {
    if (next.model) writeSetting(LAST_MODEL_KEY, next.model);
    if (!chat) {
      setDraft(next);
      return;
    }
    try {
      setChat(await updateChat(chat.id, { model: next.model || null, system_prompt: next.system_prompt, temperature: next.temperature }));
    } catch (e) {
      setError((e as Error).message);
    }
  }

  if (notFound) {
    return (
      <div class="chat-page">
        <ChatHeader models={models} settings={settings} onChange={changeSettings} onOpenMenu={onOpenMenu} onOpenSettings={() => setSettingsOpen(true)} title="" />
        <div class="empty-state" role="alert">
          <h1>404</h1>
          <p>{t('chatNotFound')}</p>
          <a class="button primary" href="/" onClick={linkHandler('/')}>{t('backToChats')}</a>
        </div>
      </div>
    );
  }

  const messages = chat?.messages ?? [];
  // The answer being written shows as the pending answer, not as a stored message.
  const lastAssistant = [...messages].reverse().find((m) => m.role === 'assistant');
  const model = models?.find((m) => m.id === settings.model);
  return (
    <div class="chat-page">
      <ChatHeader models={models} settings={settings} onChange={changeSettings} onOpenMenu={onOpenMenu} onOpenSettings={() => setSettingsOpen(true)} title={chat?.title ?? ''} />
      {settingsOpen && <ChatSettingsPanel settings={settings} onSave={(next) => { void changeSettings(next); setSettingsOpen(false); }} onClose={() => setSettingsOpen(false)} />}
      <div class="chat-log" ref={logRef} onScroll={onScroll} role="log" aria-label={chat?.title || t('untitled')} aria-busy={generating || loading}>
        <div class="chat-column">
          {messages.length === 0 && !pending && !loading && (
            <div class="empty-state">
              <h1>{t('emptyTitle')}</h1>
              <p class="muted">{t('emptyHint')}</p>
              {models?.length === 0 && <p class="error">{t('noModels')}</p>}
            </div>
          )}
          {messages.filter((message) => !message.streaming || !pending).map((message) => (
            <MessageView key={message.id} message={message} busy={generating}
              canRegenerate={message === lastAssistant && message === messages[messages.length - 1]}
              onRegenerate={() => void regenerate(message)}
              onEdit={(text) => void send(text, message.images, message.id)} />
          ))}
          {pending && <PendingAnswer pending={pending} model={settings.model} />}
          {error && <p class="error banner" role="alert">{t('failed', { message: error })}</p>}
        </div>
      </div>
      <div class="visually-hidden" role="status" aria-live="polite">{announcement}</div>
      <Composer disabled={!settings.model} generating={generating} modelName={model?.id ?? settings.model} vision={model?.vision ?? false}
        onSend={(text, images) => void send(text, images)} onStop={() => void stopCurrent()} />
    </div>
  );
}

function ChatHeader({ models, settings, onChange, onOpenMenu, onOpenSettings, title }: {
  models: UiModel[] | undefined; settings: ChatSettings; onChange: (s: ChatSettings) => void; onOpenMenu: () => void; onOpenSettings: () => void; title: string;
}) {
  const selected = models?.find((m) => m.id === settings.model);
  return (
    <header class="chat-header">
      <button type="button" class="icon-button only-mobile" aria-label={t('openMenu')} onClick={onOpenMenu}><Icon name="menu" /></button>
      <div class="model-picker">
        <label class="visually-hidden" for="model-select">{t('model')}</label>
        <select id="model-select" value={settings.model} disabled={!models || models.length === 0} aria-describedby="model-description"
          onChange={(e) => onChange({ ...settings, model: e.currentTarget.value })}>
          {(models ?? []).map((m) => <option key={m.id} value={m.id}>{m.id}</option>)}
          {models && settings.model && !models.some((m) => m.id === settings.model) && <option value={settings.model}>{settings.model}</option>}
        </select>
        <span id="model-description" class="model-description ellipsis">{selected?.description ?? ''}</span>
      </div>
      <span class="chat-title ellipsis" aria-hidden="true">{title}</span>
      <button type="button" class="icon-button" aria-label={t('chatSettings')} title={t('chatSettings')} onClick={onOpenSettings}><Icon name="sliders" /></button>
    </header>
  );
}
