import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n';
import { Icon } from './icon';

/** The message box: Enter sends, Shift+Enter breaks the line; while answering, a stop button. */
export function Composer({ disabled, generating, modelName, onSend, onStop }: {
  disabled: boolean; generating: boolean; modelName: string; onSend: (text: string) => void; onStop: () => void;
}) {
  const [text, setText] = useState('');
  const ref = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    const area = ref.current;
    if (!area) return;
    area.style.height = 'auto';
    area.style.height = `${Math.min(area.scrollHeight, 240)}px`;
  }, [text]);

  useEffect(() => {
    if (!generating) ref.current?.focus({ preventScroll: true });
  }, [generating]);

  function submit(event?: Event) {
    event?.preventDefault();
    if (generating || disabled || text.trim() === '') return;
    onSend(text);
    setText('');
  }

  return (
    <form class="composer" onSubmit={submit}>
      <div class="composer-box">
        <label class="visually-hidden" for="composer-input">{t('messageLabel')}</label>
        <textarea id="composer-input" ref={ref} rows={1} value={text} disabled={disabled}
          placeholder={t('messagePlaceholder', { model: modelName || '…' })} aria-describedby="composer-hint"
          onInput={(e) => setText(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) submit(e);
          }} />
        {generating
          ? <button type="button" class="send stop" onClick={onStop} aria-label={t('stop')} title={t('stop')}><Icon name="stop" /></button>
          : <button type="submit" class="send" disabled={disabled || text.trim() === ''} aria-label={t('send')} title={t('send')}><Icon name="send" /></button>}
      </div>
      <p id="composer-hint" class="hint">{t('keyboardHint')}</p>
    </form>
  );
}
