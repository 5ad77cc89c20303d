import { useState } from 'preact/hooks';
import type { UiChatMessage } from '../api';
import { t } from '../i18n';
import { Icon } from './icon';
import { copyText, Markdown } from './markdown-view';

export interface Pending {
  content: string;
  /** Set while the scheduler holds the request in its queue. */
  queued: { position: number; etaMs: number | undefined } | undefined;
}

export function MessageView({ message, busy, canRegenerate, onRegenerate, onEdit }: {
  message: UiChatMessage; busy: boolean; canRegenerate: boolean; onRegenerate: () => void; onEdit: (text: string) => void;
}) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(message.content);
  const [copied, setCopied] = useState(false);

  function copy() {
    void copyText(message.content).then(() => {
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    });
  }

  if (message.role === 'user') {
    if (editing) {
      return (
        <article class="message user editing" aria-label={t('you')}>
          <form onSubmit={(e) => { e.preventDefault(); setEditing(false); onEdit(text); }}>
            <textarea aria-label={t('editMessage')} value={text} rows={Math.min(12, text.split('\n').length + 1)} autoFocus
              onInput={(e) => setText(e.currentTarget.value)} onKeyDown={(e) => e.key === 'Escape' && (e.preventDefault(), setEditing(false))} />
            <div class="row end">
              <button type="button" class="button" onClick={() => setEditing(false)}>{t('cancel')}</button>
              <button type="submit" class="button primary" disabled={text.trim() === ''}>{t('saveAndSend')}</button>
            </div>
          </form>
        </article>
      );
    }
    return (
      <article class="message user" aria-label={t('you')}>
        {message.images.length > 0 && (
          <div class="message-images">
            {message.images.map((url, i) => <img key={i} src={url} alt={t('attachedImage', { n: i + 1 })} />)}
          </div>
        )}
        {message.content !== '' && <div class="bubble">{message.content}</div>}
        <div class="message-actions">
          <button type="button" class="icon-button subtle" aria-label={copied ? t('copied') : t('copy')} title={t('copy')} onClick={copy}><Icon name={copied ? 'check' : 'copy'} size={16} /></button>
          <button type="button" class="icon-button subtle" aria-label={t('edit')} title={t('edit')} disabled={busy} onClick={() => { setText(message.content); setEditing(true); }}><Icon name="edit" size={16} /></button>
        </div>
      </article>
    );
  }

  return (
    <article class="message assistant" aria-label={`${t('assistant')}${message.model ? ` (${message.model})` : ''}`}>
      <Markdown text={message.content} />
      {message.finish === 'stopped' && <p class="note"><Icon name="stop" size={14} />{t('stopped')}</p>}
      {message.finish === 'length' && <p class="note">{t('truncated')}</p>}
      {message.finish === 'error' && <p class="note error">{t('failed', { message: '' }).replace(/:\s*$/, '')}</p>}
      <div class="message-actions">
        <button type="button" class="icon-button subtle" aria-label={copied ? t('copied') : t('copy')} title={t('copy')} onClick={copy}><Icon name={copied ? 'check' : 'copy'} size={16} /></button>
        {canRegenerate && <button type="button" class="icon-button subtle" aria-label={t('regenerate')} title={t('regenerate')} disabled={busy} onClick={onRegenerate}><Icon name="refresh" size={16} /></button>}
        {message.model && <span class="model-tag">{message.model}</span>}
      </div>
    </article>
  );
}

/** The answer being written: a queue notice while waiting, then the text as it streams. */
export function PendingAnswer({ pending, model }: { pending: Pending; model: string }) {
  let status;
  if (pending.queued) {
    const { position, etaMs } = pending.queued;
    status = (
      <p class="queue-notice" data-testid="queue-notice">
        <Icon name="clock" size={16} />
        <span>{t('queuedPosition', { position })}{etaMs !== undefined && ` · ${t('queuedEta', { seconds: Math.max(1, Math.round(etaMs / 1000)) })}`}</span>
      </p>
    );
  } else if (pending.content === '') {
    status = <p class="thinking"><span class="dots" aria-hidden="true"><i /><i /><i /></span>{t('thinking')}</p>;
  }
  return (
    <article class="message assistant streaming" aria-label={`${t('assistant')} (${model})`}>
      {status}
      {pending.content !== '' && <Markdown text={pending.content} />}
    </article>
  );
}
