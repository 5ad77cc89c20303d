import { useEffect, useState } from 'preact/hooks';
import { listUsableTemplates, tryTemplate, type TemplateParameterWire, type UsableTemplateWire } from '../api';
import { Icon } from '../components/icon';
import { Markdown } from '../components/markdown-view';
import { t } from '../i18n';

type Values = Record<string, string | boolean>;

/** The form's start: each parameter's default (booleans unchecked unless their default says so). */
function initialValues(template: UsableTemplateWire): Values {
  const values: Values = {};
  for (const p of template.parameters) values[p.name] = p.type === 'boolean' ? p.default === true : p.default === undefined ? '' : String(p.default);
  return values;
}

/** Form values → `template_params`: typed as declared, empty optional fields left out (their default applies). */
function toParams(template: UsableTemplateWire, values: Values): Record<string, string | number | boolean> {
  const params: Record<string, string | number | boolean> = {};
  for (const p of template.parameters) {
    const value = values[p.name];
    if (p.type === 'boolean') params[p.name] = value === true;
    else if (value === '' || value === undefined) continue;
    else if (p.type === 'integer') params[p.name] = Number(value);
    else params[p.name] = String(value);
  }
  return params;
}

/** Prompt templates the user may use, each with a "try it" form (parameters + text → the answer). */
export function TemplatesPage({ onOpenMenu }: { onOpenMenu: () => void }) {
  const [templates, setTemplates] = useState<UsableTemplateWire[] | undefined>(undefined);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const [error, setError] = useState('');

  useEffect(() => {
    listUsableTemplates().then((list) => {
      setTemplates(list);
      setSelected((current) => current ?? list[0]?.name);
    }, (e: Error) => setError(e.message));
  }, []);

  const template = templates?.find((item) => item.name === selected);
  return (
    <div class="page">
      <header class="page-header">
        <div class="row">
          <button type="button" class="icon-button only-mobile" aria-label={t('openMenu')} onClick={onOpenMenu}><Icon name="menu" /></button>
          <h1>{t('templates')}</h1>
        </div>
      </header>
      <div class="page-body">
        <p class="muted">{t('templatesIntro')}</p>
        {error && <p class="error" role="alert">{error}</p>}
        {templates === undefined && !error && <div class="page-loading" aria-busy="true">{t('loading')}</div>}
        {templates?.length === 0 && <p class="muted">{t('noTemplates')}</p>}
        {templates && templates.length > 0 && (
          <section class="card" aria-labelledby="templates-list-title">
            <h2 id="templates-list-title">{t('templatesAvailable')}</h2>
            <ul class="row wrap template-list">
              {templates.map((item) => (
                <li key={item.name}>
                  <button type="button" class={`button${item.name === selected ? ' primary' : ''}`}
                    aria-pressed={item.name === selected} onClick={() => setSelected(item.name)}>{item.virtual_model}</button>
                </li>
              ))}
            </ul>
          </section>
        )}
        {template && <TryIt key={`${template.name}@${template.version}`} template={template} />}
      </div>
    </div>
  );
}

function TryIt({ template }: { template: UsableTemplateWire }) {
  const [values, setValues] = useState<Values>(() => initialValues(template));
  const [input, setInput] = useState('');
  const [answer, setAnswer] = useState<string | undefined>(undefined);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError('');
    setAnswer(undefined);
    try {
      setAnswer(await tryTemplate(template.virtual_model, input, toParams(template, values)));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  const set = (name: string, value: string | boolean) => setValues((current) => ({ ...current, [name]: value }));
  return (
    <section class="card" aria-labelledby="try-title">
      <h2 id="try-title">{t('tryTemplate', { name: template.virtual_model })}</h2>
      <p>
        {template.description ?? ''} <span class="badge">{template.group ?? t('templateGlobal')}</span>{' '}
        <span class="muted small">{t('templateVersion', { version: template.version })}</span>
      </p>
      <form class="stack" onSubmit={submit}>
        {template.parameters.map((p) => <ParameterField key={p.name} parameter={p} value={values[p.name]} onChange={(v) => set(p.name, v)} />)}
        <label class="field"><span>{t('templateInput')}</span>
          <textarea rows={4} maxLength={20_000} value={input} onInput={(e) => setInput(e.currentTarget.value)} /></label>
        <button class="button primary align-self-start" type="submit" disabled={busy}>{busy ? t('templateTrying') : t('templateTry')}</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {answer !== undefined && (
        <div class="template-answer" aria-live="polite" aria-label={t('templateAnswer')}>
          <h3>{t('templateAnswer')}</h3>
          <Markdown text={answer} />
        </div>
      )}
    </section>
  );
}

function ParameterField({ parameter: p, value, onChange }: { parameter: TemplateParameterWire; value: string | boolean | undefined; onChange: (value: string | boolean) => void }) {
  const label = <span>{p.name}{p.required && p.default === undefined ? ' *' : ''}{p.description ? <span class="muted small"> — {p.description}</span> : null}</span>;
  const required = p.required && p.default === undefined;
  if (p.type === 'boolean') {
    return <label class="field inline"><input type="checkbox" checked={value === true} onChange={(e) => onChange(e.currentTarget.checked)} />{label}</label>;
  }
  if (p.type === 'enum' || (p.type === 'string' && p.values)) {
    return (
      <label class="field">{label}
        <select required={required} value={String(value ?? '')} onChange={(e) => onChange(e.currentTarget.value)}>
          {!required && <option value="">—</option>}
          {p.values!.map((v) => <option key={v} value={v}>{v}</option>)}
        </select>
      </label>
    );
  }
  if (p.type === 'integer') {
    return <label class="field">{label}<input type="number" step={1} min={p.min} max={p.max} required={required} value={String(value ?? '')} onInput={(e) => onChange(e.currentTarget.value)} /></label>;
  }
  return <label class="field">{label}<input type="text" maxLength={p.max_length ?? 20_000} required={required} value={String(value ?? '')} onInput={(e) => onChange(e.currentTarget.value)} /></label>;
}
