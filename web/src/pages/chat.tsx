import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError} from '../api';
import { appendMessages, createChat, getChat, updateChat, type UiChat, type UiChatMessage, type UiModel } from '../api';
import type { Workspace } from '../workspace';
import { Composer } from '../components/composer';
import { Icon } from '../components/icon';
import { MessageView, PendingAnswer, type Pending } from '../components/message';
import { ChatSettingsPanel, type ChatSettings } from '../components/chat-settings';
import { t } from '../i18n';
import { linkHandler, navigate } from '../router';
import { streamChat } from '../stream';
import { sourcesMarkdown } from '../sources';

const LAST_MODEL_KEY = 'flexi.model';

/** `llama3` and `llama3:latest` name the same model. */
function sameModel(a: string, b: string): boolean {
  return a === b || a === `${b}:latest` || b === `${a}:latest`;
}

/** The chat's model, else the user's last choice, else their role's default, else the first one they may use. */
function pickModel(models: UiModel[] | undefined, wanted: string | null | undefined, roleDefault: string | null): string {
  if (!models || models.length === 0) return wanted ?? '';
  if (wanted && models.some((m) => m.id === wanted)) return wanted;
  const last = localStorage.getItem(LAST_MODEL_KEY);
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
  const [draft, setDraft] = useState<ChatSettings>({ model: '', system_prompt: null, temperature: null });
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
      (loaded) => !cancelled && setChat(loaded),
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

  // Leaving the page stops a running answer (it is stored as stopped).
  useEffect(() => () => controller.current?.abort(), []);

  useEffect(() => {
    const stop = (event: KeyboardEvent) => {
      if (event.key === 'Escape' && controller.current && !event.defaultPrevented) controller.current.abort();
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

  const generate = useCallback(async (current: UiChat, model: string) => {
    const abort = new AbortController();
    controller.current = abort;
    stickToBottom.current = true;
    const state: Pending = { content: '', queued: undefined };
    setPending({ ...state });
    setAnnouncement('');
    let frame = 0;
    const flush = () => {
      frame = 0;
      setPending({ ...state });
    };
    const history = current.messages
      .filter((m) => m.content.trim() !== '')
      .map((m) => ({ role: m.role, content: m.content }));
    const messages = current.system_prompt ? [{ role: 'system' as const, content: current.system_prompt }, ...history] : history;
    const result = await streamChat(
      { model, messages, ...(current.temperature !== null ? { temperature: current.temperature } : {}) },
      {
        onDelta(text) {
          state.content += text;
          state.queued = undefined;
          frame ||= requestAnimationFrame(flush);
        },
        onQueued(position, etaMs) {
          state.queued = { position, etaMs };
          setAnnouncement(t('queuedPosition', { position }));
          frame ||= requestAnimationFrame(flush);
        },
      },
      abort.signal,
    );
    if (frame) cancelAnimationFrame(frame);
    controller.current = undefined;
    if (result.error?.code === 'agreement_required' || result.error?.status === 401) return;
    try {
      const content = state.content + sourcesMarkdown(model, result.sources, t('sources'));
      const saved = await appendMessages(current.id, [{ role: 'assistant', content, model, finish: result.finish }]);
      if (chatRef.current?.id === current.id) setChat(saved);
    } catch (e) {
      setError((e as Error).message);
    }
    if (result.error) setError(result.error.message);
    setPending(undefined);
    setAnnouncement(result.finish === 'stopped' ? t('stopped') : result.error ? t('failed', { message: result.error.message }) : t('answerDone'));
    void workspace.refreshChats().catch(() => undefined);
  }, [workspace]);

  /** Sends a new message, or (with `replaceFrom`) replaces one and everything after it. */
  async function send(text: string, replaceFrom?: string) {
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
      const updated = await appendMessages(current.id, [{ role: 'user', content: text }], replaceFrom);
      setChat(updated);
      void workspace.refreshChats().catch(() => undefined);
      await generate(updated, settings.model);
    } catch (e) {
      setPending(undefined);
      setError((e as Error).message);
    }
  }

  async function regenerate(message: UiChatMessage) {
    if (!chat || generating) return;
    setError('');
    try {
      const updated = await appendMessages(chat.id, [], message.id);
      setChat(updated);
      await generate(updated, settings.model);
    } catch (e) {
      setError((e as Error).message);
    }
  }

  async function changeSettings(next: ChatSettings) {
    if (next.model) localStorage.setItem(LAST_MODEL_KEY, next.model);
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
          {messages.map((message) => (
            <MessageView key={message.id} message={message} busy={generating}
              canRegenerate={message === lastAssistant && message === messages[messages.length - 1]}
              onRegenerate={() => void regenerate(message)}
              onEdit={(text) => void send(text, message.id)} />
          ))}
          {pending && <PendingAnswer pending={pending} model={settings.model} />}
          {error && <p class="error banner" role="alert">{t('failed', { message: error })}</p>}
        </div>
      </div>
      <div class="visually-hidden" role="status" aria-live="polite">{announcement}</div>
      <Composer disabled={!settings.model} generating={generating} modelName={model?.id ?? settings.model}
        onSend={(text) => void send(text)} onStop={() => controller.current?.abort()} />
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
