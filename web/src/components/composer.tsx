import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n';
import { Icon } from './icon';
import { prepareImage, MAX_IMAGES } from '../images';

/**
 * The message box: Enter sends, Shift+Enter breaks the line; while answering, a stop button.
 * For a vision model it takes images too (button, drag and drop, paste): previewed, and
 * downscaled in the browser to what such models look at before they are sent.
 */
export function Composer({ disabled, generating, modelName, vision, onSend, onStop }: {
  disabled: boolean; generating: boolean; modelName: string; vision: boolean;
  onSend: (text: string, images: string[]) => void; onStop: () => void;
}) {
  const [text, setText] = useState('');
  const [images, setImages] = useState<string[]>([]);
  const [imageError, setImageError] = useState('');
  const [dragging, setDragging] = useState(false);
  const ref = useRef<HTMLTextAreaElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    const area = ref.current;
    if (!area) return;
    area.style.height = 'auto';
    area.style.height = `${Math.min(area.scrollHeight, 240)}px`;
  }, [text]);

  useEffect(() => {
    if (!generating) ref.current?.focus({ preventScroll: true });
  }, [generating]);

  // A model without vision takes no images: what was attached for another model goes.
  useEffect(() => {
    if (!vision) setImages([]);
  }, [vision]);

  async function attach(files: Iterable<File>) {
    if (!vision) return;
    setImageError('');
    const added: string[] = [];
    for (const file of files) {
      if (images.length + added.length >= MAX_IMAGES) {
        setImageError(t('tooManyImages', { count: MAX_IMAGES }));
        break;
      }
      try {
        added.push(await prepareImage(file));
      } catch (e) {
        setImageError((e as Error).message);
      }
    }
    if (added.length > 0) setImages((current) => [...current, ...added].slice(0, MAX_IMAGES));
  }

  function submit(event?: Event) {
    event?.preventDefault();
    if (generating || disabled || (text.trim() === '' && images.length === 0)) return;
    onSend(text, images);
    setText('');
    setImages([]);
    setImageError('');
  }

  const imageFiles = (list: FileList | null | undefined) => [...(list ?? [])].filter((file) => file.type.startsWith('image/') || file.type === '');

  return (
    <form class={`composer${dragging ? ' dragging' : ''}`} onSubmit={submit}
      onDragOver={(e) => { if (vision && e.dataTransfer?.types.includes('Files')) { e.preventDefault(); setDragging(true); } }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => { if (!vision) return; e.preventDefault(); setDragging(false); void attach(imageFiles(e.dataTransfer?.files)); }}>
      {images.length > 0 && (
        <ul class="attachments" aria-label={t('attachedImages')}>
          {images.map((url, i) => (
            <li key={url.slice(-32) + i} class="attachment">
              <img src={url} alt={t('attachedImage', { n: i + 1 })} />
              <button type="button" class="icon-button remove" aria-label={t('removeImage', { n: i + 1 })} title={t('removeImage', { n: i + 1 })}
                onClick={() => setImages((current) => current.filter((_, j) => j !== i))}><Icon name="close" size={14} /></button>
            </li>
          ))}
        </ul>
      )}
      <div class="composer-box">
        {vision && (
          <>
            <input ref={fileRef} id="composer-images" type="file" accept="image/png,image/jpeg,image/webp,image/gif" multiple class="visually-hidden" tabIndex={-1}
              onChange={(e) => { void attach(imageFiles(e.currentTarget.files)); e.currentTarget.value = ''; }} />
            <button type="button" class="icon-button attach" aria-label={t('attachImage')} title={t('attachImage')} disabled={disabled || generating}
              onClick={() => fileRef.current?.click()}><Icon name="image" /></button>
          </>
        )}
        <label class="visually-hidden" for="composer-input">{t('messageLabel')}</label>
        <textarea id="composer-input" ref={ref} rows={1} value={text} disabled={disabled}
          placeholder={t('messagePlaceholder', { model: modelName || '…' })} aria-describedby="composer-hint"
          onInput={(e) => setText(e.currentTarget.value)}
          onPaste={(e) => {
            const files = imageFiles(e.clipboardData?.files);
            if (vision && files.length > 0) {
              e.preventDefault();
              void attach(files);
            }
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) submit(e);
          }} />
        {generating
          ? <button type="button" class="send stop" onClick={onStop} aria-label={t('stop')} title={t('stop')}><Icon name="stop" /></button>
          : <button type="submit" class="send" disabled={disabled || (text.trim() === '' && images.length === 0)} aria-label={t('send')} title={t('send')}><Icon name="send" /></button>}
      </div>
      {imageError && <p class="error" role="alert">{imageError}</p>}
      <p id="composer-hint" class="hint">{vision ? t('keyboardHintImages') : t('keyboardHint')}</p>
    </form>
  );
}
