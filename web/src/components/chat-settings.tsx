import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n';
import { Icon } from './icon';

export interface ChatSettings {
  model: string;
  system_prompt: string | null;
  temperature: number | null;
}

/** System prompt and temperature of one chat, in a dialog. */
export function ChatSettingsPanel({ settings, onSave, onClose }: { settings: ChatSettings; onSave: (s: ChatSettings) => void; onClose: () => void }) {
  const [prompt, setPrompt] = useState(settings.system_prompt ?? '');
  const [useDefault, setUseDefault] = useState(settings.temperature === null);
  const [temperature, setTemperature] = useState(settings.temperature ?? 0.7);
  const dialog = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    dialog.current?.showModal();
  }, []);

  return (
    <dialog ref={dialog} class="dialog" aria-labelledby="chat-settings-title" onClose={onClose} onCancel={onClose}>
      <form method="dialog" class="stack" onSubmit={(e) => {
        e.preventDefault();
        onSave({ model: settings.model, system_prompt: prompt.trim() === '' ? null : prompt, temperature: useDefault ? null : temperature });
      }}>
        <div class="row between">
          <h2 id="chat-settings-title">{t('chatSettings')}</h2>
          <button type="button" class="icon-button" aria-label={t('close')} onClick={onClose}><Icon name="close" /></button>
        </div>
        <label class="field">
          <span>{t('systemPrompt')}</span>
          <textarea rows={5} value={prompt} maxLength={20000} onInput={(e) => setPrompt(e.currentTarget.value)} aria-describedby="system-prompt-hint" />
          <small id="system-prompt-hint" class="muted">{t('systemPromptHint')}</small>
        </label>
        <fieldset class="field">
          <legend>{t('temperature')}</legend>
          <label class="check"><input type="checkbox" checked={useDefault} onChange={(e) => setUseDefault(e.currentTarget.checked)} />{t('temperatureDefault')}</label>
          <div class="row">
            <input type="range" min={0} max={2} step={0.1} value={temperature} disabled={useDefault} aria-label={t('temperature')}
              aria-describedby="temperature-hint" onInput={(e) => setTemperature(Number(e.currentTarget.value))} />
            <output class="temperature-value">{useDefault ? '—' : temperature.toFixed(1)}</output>
          </div>
          <small id="temperature-hint" class="muted">{t('temperatureHint')}</small>
        </fieldset>
        <div class="row end">
          <button type="button" class="button" onClick={onClose}>{t('cancel')}</button>
          <button type="submit" class="button primary">{t('save')}</button>
        </div>
      </form>
    </dialog>
  );
}
