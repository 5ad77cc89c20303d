import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import {
  getCollection, listCollections, listDocuments, removeDocument, searchCollection, updateCollection, uploadDocument,
  type Collection, type CollectionDocument, type CollectionSearchResponse,
} from '../api';
import { Icon } from '../components/icon';
import { formatDate, formatNumber, t } from '../i18n';
import { linkHandler } from '../router';
import { sourceUrl } from '../sources';
import type { Workspace } from '../workspace';

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${formatNumber(Math.round(bytes / 104857.6) / 10)} MiB`;
  if (bytes >= 1024) return `${formatNumber(Math.round(bytes / 102.4) / 10)} KiB`;
  return `${formatNumber(bytes)} B`;
}

function PageHeader({ title, onOpenMenu, back }: { title: string; onOpenMenu: () => void; back?: boolean }) {
  return (
    <header class="page-header">
      <div class="row">
        <button type="button" class="icon-button only-mobile" aria-label={t('openMenu')} onClick={onOpenMenu}><Icon name="menu" /></button>
        {back && <a class="icon-button" href="/courses" onClick={linkHandler('/courses')} aria-label={t('courseBots')}>←</a>}
        <h1>{title}</h1>
      </div>
    </header>
  );
}

/** `/courses`: the course bots of the user's courses; `/courses/<name>`: one bot's page. */
export function CoursesPage({ workspace, name, onOpenMenu }: { workspace: Workspace; name?: string; onOpenMenu: () => void }) {
  if (name) return <CoursePage workspace={workspace} name={name} onOpenMenu={onOpenMenu} />;
  return <CourseList onOpenMenu={onOpenMenu} />;
}

function CourseList({ onOpenMenu }: { onOpenMenu: () => void }) {
  const [collections, setCollections] = useState<Collection[] | undefined>(undefined);
  const [error, setError] = useState('');
  useEffect(() => {
    listCollections().then(setCollections, (e: Error) => setError(e.message));
  }, []);
  return (
    <div class="page">
      <PageHeader title={t('courseBots')} onOpenMenu={onOpenMenu} />
      <div class="page-body">
        {error && <p class="error" role="alert">{error}</p>}
        {collections?.length === 0 && <p class="muted">{t('noCourseBots')}</p>}
        {collections?.map((c) => (
          <section key={c.id} class="card" aria-labelledby={`course-${c.id}`}>
            <div class="row between">
              <h2 id={`course-${c.id}`}><a href={`/courses/${encodeURIComponent(c.name)}`} onClick={linkHandler(`/courses/${encodeURIComponent(c.name)}`)}>{c.name}</a></h2>
              <span class="badge">{c.role}</span>
            </div>
            <p class="muted small">{c.group.name} · {c.model} · {t('documentsCount', { count: c.documents })}</p>
            {c.description && <p>{c.description}</p>}
          </section>
        ))}
      </div>
    </div>
  );
}

function CoursePage({ workspace, name, onOpenMenu }: { workspace: Workspace; name: string; onOpenMenu: () => void }) {
  const [collection, setCollection] = useState<Collection | undefined>(undefined);
  const [documents, setDocuments] = useState<CollectionDocument[]>([]);
  const [error, setError] = useState('');

  const refresh = useCallback(async () => {
    const [c, d] = await Promise.all([getCollection(name), listDocuments(name)]);
    setCollection(c);
    setDocuments(d);
  }, [name]);

  useEffect(() => {
    refresh().catch((e: Error) => setError(e.message));
  }, [refresh]);

  // While documents are being ingested, their status and progress come from the server.
  const busy = documents.some((d) => d.status === 'queued' || d.status === 'processing');
  useEffect(() => {
    if (!busy) return;
    const timer = setInterval(() => void refresh().catch(() => undefined), 1000);
    return () => clearInterval(timer);
  }, [busy, refresh]);

  if (error && !collection) {
    return <div class="page"><PageHeader title={name} onOpenMenu={onOpenMenu} back /><div class="page-body"><p class="error" role="alert">{error}</p></div></div>;
  }
  if (!collection) return <div class="page-loading" aria-busy="true">{t('loading')}</div>;
  const manage = collection.role !== 'member';
  return (
    <div class="page">
      <PageHeader title={collection.name} onOpenMenu={onOpenMenu} back />
      <div class="page-body">
        <p class="muted">{collection.group.name} · <code>{collection.model}</code>{collection.description ? ` · ${collection.description}` : ''}</p>
        {error && <p class="error" role="alert">{error}</p>}
        <section class="card" aria-labelledby="documents-title">
          <h2 id="documents-title">{t('documents')}</h2>
          <DocumentTable name={name} documents={documents} manage={manage} onChanged={() => void refresh().catch((e: Error) => setError(e.message))} />
          {manage && <UploadZone name={name} onUploaded={() => void refresh().catch((e: Error) => setError(e.message))} />}
        </section>
        {manage && <BotSettings collection={collection} workspace={workspace} onSaved={setCollection} />}
        <TestQuestion name={name} />
      </div>
    </div>
  );
}

function StatusBadge({ document }: { document: CollectionDocument }) {
  if (document.status === 'processing') {
    const share = document.progress.total > 0 ? Math.round((document.progress.done / document.progress.total) * 100) : 0;
    return <span class="badge" title={t('statusProcessing')}>{t('statusProcessing')} {share}%</span>;
  }
  if (document.status === 'failed') return <span class="badge bad" title={document.error ?? ''}>{t('statusFailed')}</span>;
  return <span class={`badge${document.status === 'ready' ? ' good' : ''}`}>{document.status === 'ready' ? t('statusReady') : t('statusQueued')}</span>;
}

function DocumentTable({ name, documents, manage, onChanged }: { name: string; documents: CollectionDocument[]; manage: boolean; onChanged: () => void }) {
  if (documents.length === 0) return <p class="muted">{t('noDocuments')}</p>;
  return (
    <div class="table-wrap">
      <table data-testid="documents">
        <thead><tr><th>{t('documentName')}</th><th>{t('documentStatus')}</th><th class="num">{t('pages')}</th><th class="num">{t('chunks')}</th><th class="num">{t('size')}</th><th>{t('updated')}</th>{manage && <th />}</tr></thead>
        <tbody>
          {documents.map((d) => (
            <tr key={d.id}>
              <td><a href={sourceUrl(name, { document: d.name })} target="_blank" rel="noopener">{d.name}</a>{d.status === 'failed' && d.error && <div class="error small">{d.error}</div>}</td>
              <td><StatusBadge document={d} /></td>
              <td class="num">{d.pages ?? '–'}</td>
              <td class="num">{d.chunks ?? '–'}</td>
              <td class="num">{formatBytes(d.bytes)}</td>
              <td>{formatDate(d.updated_at)}</td>
              {manage && (
                <td><button type="button" class="icon-button subtle" aria-label={t('removeDocument', { name: d.name })} title={t('removeDocument', { name: d.name })}
                  onClick={() => { if (confirm(t('removeDocumentConfirm', { name: d.name }))) void removeDocument(name, d.id).then(onChanged, onChanged); }}><Icon name="trash" size={16} /></button></td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

interface UploadState { file: string; sent: number; total: number; error?: string; done?: boolean }

function UploadZone({ name, onUploaded }: { name: string; onUploaded: () => void }) {
  const [uploads, setUploads] = useState<UploadState[]>([]);
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  async function upload(files: File[]) {
    const states: UploadState[] = files.map((f) => ({ file: f.name, sent: 0, total: f.size }));
    setUploads([...states]);
    // One after another: the server ingests one document at a time anyway.
    for (const [i, file] of files.entries()) {
      const state = states[i]!;
      try {
        await uploadDocument(name, file, (sent, total) => {
          state.sent = sent;
          state.total = total;
          setUploads([...states]);
        });
        state.done = true;
      } catch (error) {
        state.error = (error as Error).message;
      }
      setUploads([...states]);
      onUploaded();
    }
  }

  return (
    <div>
      <div class={`drop-zone${over ? ' over' : ''}`} data-testid="drop-zone" role="button" tabIndex={0} aria-label={t('dropFiles')}
        onClick={() => input.current?.click()} onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), input.current?.click())}
        onDragOver={(e) => { e.preventDefault(); setOver(true); }} onDragLeave={() => setOver(false)}
        onDrop={(e) => { e.preventDefault(); setOver(false); void upload([...(e.dataTransfer?.files ?? [])]); }}>
        <Icon name="plus" /> {t('dropFiles')}
        <input ref={input} type="file" multiple hidden accept=".pdf,.md,.markdown,.html,.htm,.txt,.docx"
          onChange={(e) => { void upload([...(e.currentTarget.files ?? [])]); e.currentTarget.value = ''; }} />
      </div>
      {uploads.map((u) => (
        <div key={u.file} class="upload" data-testid="upload">
          <div class="row between"><span>{u.file}</span><span class="muted small">{u.error ? '' : u.done ? t('uploaded') : `${Math.round((u.sent / Math.max(1, u.total)) * 100)}%`}</span></div>
          {u.error ? <p class="error small" role="alert">{u.error}</p> : (
            <div class="meter" role="progressbar" aria-label={u.file} aria-valuemin={0} aria-valuemax={u.total} aria-valuenow={u.sent}>
              <span style={{ width: `${((u.sent / Math.max(1, u.total)) * 100).toFixed(1)}%` }} />
            </div>
          )}
        </div>
      ))}
    </div>
  );
}

function BotSettings({ collection, workspace, onSaved }: { collection: Collection; workspace: Workspace; onSaved: (c: Collection) => void }) {
  const [form, setForm] = useState({
    description: collection.description ?? '', instructions: collection.instructions ?? '', chat_model: collection.chat_model ?? '',
    strictness: collection.strictness, refusal_text: collection.refusal_text ?? '', top_k: collection.top_k,
  });
  const [status, setStatus] = useState('');
  const models = (workspace.models ?? []).filter((m) => !m.id.startsWith('course:'));
  async function save(event: Event) {
    event.preventDefault();
    setStatus('');
    try {
      onSaved(await updateCollection(collection.name, {
        description: form.description || null, instructions: form.instructions || null, chat_model: form.chat_model || null,
        strictness: form.strictness, refusal_text: form.refusal_text || null, top_k: form.top_k,
      }));
      setStatus(t('saved'));
    } catch (error) {
      setStatus((error as Error).message);
    }
  }
  return (
    <section class="card" aria-labelledby="bot-settings-title">
      <h2 id="bot-settings-title">{t('botSettings')}</h2>
      <form class="stack" onSubmit={save}>
        <label class="field"><span>{t('description')}</span><input value={form.description} maxLength={2000} onInput={(e) => setForm({ ...form, description: e.currentTarget.value })} /></label>
        <label class="field"><span>{t('botInstructions')}</span><textarea rows={4} value={form.instructions} maxLength={20000} onInput={(e) => setForm({ ...form, instructions: e.currentTarget.value })} /></label>
        <label class="field"><span>{t('chatModel')}</span>
          <select value={form.chat_model} onChange={(e) => setForm({ ...form, chat_model: e.currentTarget.value })}>
            <option value="">{t('defaultModel')}</option>
            {models.map((m) => <option key={m.id} value={m.id}>{m.id}</option>)}
            {form.chat_model && !models.some((m) => m.id === form.chat_model) && <option value={form.chat_model}>{form.chat_model}</option>}
          </select>
        </label>
        <label class="field"><span>{t('strictness')}</span>
          <select value={form.strictness} onChange={(e) => setForm({ ...form, strictness: e.currentTarget.value as Collection['strictness'] })}>
            <option value="strict">{t('strict')}</option>
            <option value="lenient">{t('lenient')}</option>
          </select>
        </label>
        <label class="field"><span>{t('refusalText')}</span><textarea rows={2} value={form.refusal_text} maxLength={2000} placeholder={t('defaultRefusal')} onInput={(e) => setForm({ ...form, refusal_text: e.currentTarget.value })} /></label>
        <label class="field"><span>{t('excerptsPerQuestion')}</span><input type="number" min={1} max={20} value={form.top_k} onInput={(e) => setForm({ ...form, top_k: Number(e.currentTarget.value) || 1 })} /></label>
        <div class="row end"><span class="muted small" role="status">{status}</span><button type="submit" class="button primary">{t('save')}</button></div>
      </form>
    </section>
  );
}

function TestQuestion({ name }: { name: string }) {
  const [query, setQuery] = useState('');
  const [result, setResult] = useState<CollectionSearchResponse | undefined>(undefined);
  const [error, setError] = useState('');
  async function ask(event: Event) {
    event.preventDefault();
    setError('');
    try {
      setResult(await searchCollection(name, query));
    } catch (e) {
      setError((e as Error).message);
    }
  }
  return (
    <section class="card" aria-labelledby="test-question-title">
      <h2 id="test-question-title">{t('testQuestion')}</h2>
      <form class="row" onSubmit={ask}>
        <input class="grow" aria-label={t('testQuestion')} placeholder={t('testQuestionHint')} value={query} maxLength={4000} onInput={(e) => setQuery(e.currentTarget.value)} />
        <button type="submit" class="button primary" disabled={query.trim() === ''}>{t('search')}</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {result && (
        <div data-testid="search-results">
          <p class={result.relevant ? 'badge good' : 'badge warn'} data-testid="relevance">{result.relevant ? t('wouldAnswer') : t('wouldRefuse')}</p>
          <ol class="passages">
            {result.data.map((hit, i) => (
              <li key={i} class="passage">
                <div class="row between">
                  <a href={sourceUrl(name, hit)} target="_blank" rel="noopener">{hit.document}{hit.page !== undefined ? `, ${t('pageShort')} ${hit.page}${hit.page_end ? `–${hit.page_end}` : ''}` : ''}{hit.section ? ` · ${hit.section}` : ''}</a>
                  <span class="badge" title={t('score')}>{hit.score.toFixed(3)}</span>
                </div>
                <p class="small">{hit.text}</p>
              </li>
            ))}
          </ol>
        </div>
      )}
    </section>
  );
}
