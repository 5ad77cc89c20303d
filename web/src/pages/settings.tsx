import { useEffect, useState } from 'preact/hooks';
import { api, changePassword, createOwnKey, createRecoveryKey, deleteAllChats, getChatKeyStatus, unlockChats, exportUrl, getAgreement, listOwnKeys, revokeOwnKey, type AgreementResponse, type ApiKey, type OwnEnergyJson, type UiBudget } from '../api';
import type { Workspace } from '../workspace';
import { Icon } from '../components/icon';
import { KeyTable } from '../components/key-table';
import { copyText, Markdown } from '../components/markdown-view';
import { PreferenceControls } from '../components/preferences';
import { formatDate, formatNumber, getLanguage, t, type MessageKey } from '../i18n';

export function SettingsPage({ workspace, onOpenMenu }: { workspace: Workspace; onOpenMenu: () => void }) {
  const { me } = workspace;
  useEffect(() => {
    void workspace.refreshMe().catch(() => undefined);
  }, []);
  return (
    <div class="page">
      <header class="page-header">
        <div class="row">
          <button type="button" class="icon-button only-mobile" aria-label={t('openMenu')} onClick={onOpenMenu}><Icon name="menu" /></button>
          <h1>{t('settings')}</h1>
        </div>
      </header>
      <div class="page-body">
        <section class="card" aria-labelledby="account-title">
          <h2 id="account-title">{t('account')}</h2>
          <dl class="facts">
            <dt>{t('email')}</dt><dd>{me.user?.email}</dd>
            {me.user?.display_name && <><dt>{t('displayName')}</dt><dd>{me.user.display_name}</dd></>}
            <dt>{t('roles')}</dt><dd>{me.roles.map((r) => <span key={r} class="badge">{r}</span>)}</dd>
          </dl>
        </section>
        <section class="card" aria-labelledby="usage-title">
          <h2 id="usage-title">{t('usage')}</h2>
          {me.budgets.length === 0 ? <p class="muted">{t('noBudgets')}</p> : me.budgets.map((b) => <BudgetBar key={b.period} budget={b} />)}
          <OwnEnergy />
        </section>
        <PasswordChange />
        <ChatEncryption />
        {me.policy.api_keys && <ApiKeys />}
        <section class="card" aria-labelledby="prefs-title">
          <h2 id="prefs-title">{t('preferences')}</h2>
          <PreferenceControls />
        </section>
        <YourData workspace={workspace} />
      </div>
    </div>
  );
}

/** The user's own GPU energy and CO2 over the last 30 days: a number, not a lecture. */
function OwnEnergy() {
  const [own, setOwn] = useState<OwnEnergyJson | undefined>(undefined);
  useEffect(() => {
    api<OwnEnergyJson>('GET', '/ui/v1/me/energy').then(setOwn, () => setOwn(undefined));
  }, []);
  if (!own) return null;
  return (
    <p class="muted small" data-testid="own-energy">
      <strong>{t('yourEnergy')}:</strong> {t('yourEnergyValue', {
        wh: formatNumber(Math.round(own.energy_wh * 100) / 100), co2: formatNumber(Math.round(own.co2_g * 10) / 10), requests: formatNumber(own.requests),
      })}
    </p>
  );
}

const PERIOD_LABEL: Record<UiBudget['period'], MessageKey> = { day: 'budgetDay', week: 'budgetWeek', term: 'budgetTerm' };

function BudgetBar({ budget }: { budget: UiBudget }) {
  const share = budget.limit > 0 ? Math.min(1, budget.used / budget.limit) : 1;
  return (
    <div class="budget">
      <div class="row between">
        <strong>{t(PERIOD_LABEL[budget.period])}</strong>
        <span class="muted small">{t('tokensOf', { used: formatNumber(budget.used), limit: formatNumber(budget.limit) })} · {t('budgetResets', { date: formatDate(budget.resets_at) })}</span>
      </div>
      <div class={`meter${share > 0.9 ? ' high' : ''}`} role="meter" aria-valuemin={0} aria-valuemax={budget.limit} aria-valuenow={budget.used} aria-label={t(PERIOD_LABEL[budget.period])}>
        <span style={{ width: `${(share * 100).toFixed(1)}%` }} />
      </div>
    </div>
  );
}

function PasswordChange() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');

  async function submit(event: Event) {
    event.preventDefault();
    setError('');
    setMessage('');
    try {
      await changePassword(current, next);
      setCurrent('');
      setNext('');
      setMessage(t('passwordChanged'));
    } catch (e) {
      setError((e as Error).message);
    }
  }

  return (
    <section class="card" aria-labelledby="password-title">
      <h2 id="password-title">{t('changePassword')}</h2>
      <form class="row wrap" onSubmit={submit}>
        <label class="field grow"><span>{t('currentPassword')}</span>
          <input type="password" autocomplete="current-password" required maxLength={1024} value={current} onInput={(e) => setCurrent(e.currentTarget.value)} /></label>
        <label class="field grow"><span>{t('newPassword')}</span>
          <input type="password" autocomplete="new-password" required minLength={8} maxLength={1024} value={next} onInput={(e) => setNext(e.currentTarget.value)} /></label>
        <button class="button primary align-end" type="submit">{t('changePassword')}</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {message && <p class="success" role="status">{message}</p>}
    </section>
  );
}

/** Encrypted chats (`privacy.encrypt_chats`): the recovery key, and unlocking a locked session. */
function ChatEncryption() {
  const [status, setStatus] = useState<{ enabled: boolean; unlocked: boolean; recovery_key: boolean } | undefined>(undefined);
  const [shown, setShown] = useState('');
  const [recovery, setRecovery] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [message, setMessage] = useState('');

  const load = () => getChatKeyStatus().then(setStatus, () => undefined);
  useEffect(() => {
    void load();
  }, []);
  if (!status?.enabled) return null;

  async function create() {
    setError('');
    try {
      setShown((await createRecoveryKey()).recovery_key);
      await load();
    } catch (e) {
      setError((e as Error).message);
    }
  }

  async function unlock(event: Event) {
    event.preventDefault();
    setError('');
    try {
      await unlockChats(recovery, password || undefined);
      setRecovery('');
      setPassword('');
      setMessage(t('unlocked'));
      await load();
    } catch (e) {
      setError((e as Error).message);
    }
  }

  return (
    <section class="card" aria-labelledby="encryption-title">
      <h2 id="encryption-title">{t('chatEncryption')}</h2>
      <p>{status.unlocked ? t('chatsEncrypted') : t('chatsLocked')}</p>
      {status.unlocked && <p class="muted">{status.recovery_key ? t('recoveryKeySaved') : t('recoveryKeyNone')}</p>}
      {status.unlocked && <button type="button" class="button" onClick={() => void create()}>{t('createRecoveryKey')}</button>}
      {shown && (
        <div class="notice" role="status">
          <p>{t('recoveryKeyShown')}</p>
          <div class="row">
            <code class="secret" data-testid="recovery-key">{shown}</code>
            <button type="button" class="button" onClick={() => void copyText(shown)}><Icon name="copy" />{t('copy')}</button>
          </div>
        </div>
      )}
      {!status.unlocked && (
        <form class="row wrap" onSubmit={unlock}>
          <label class="field grow"><span>{t('recoveryKey')}</span>
            <input required maxLength={200} autocomplete="off" value={recovery} onInput={(e) => setRecovery(e.currentTarget.value)} /></label>
          <label class="field grow"><span>{t('currentPassword')}</span>
            <input type="password" autocomplete="current-password" maxLength={1024} value={password} onInput={(e) => setPassword(e.currentTarget.value)} /></label>
          <button class="button primary align-end" type="submit">{t('unlock')}</button>
        </form>
      )}
      {error && <p class="error" role="alert">{error}</p>}
      {message && <p class="success" role="status">{message}</p>}
    </section>
  );
}

function ApiKeys() {
  const [keys, setKeys] = useState<ApiKey[] | undefined>(undefined);
  const [name, setName] = useState('');
  const [days, setDays] = useState('');
  const [created, setCreated] = useState<string | undefined>(undefined);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState('');

  const refresh = () => listOwnKeys().then(setKeys, (e: Error) => setError(e.message));
  useEffect(() => void refresh(), []);

  async function create(event: Event) {
    event.preventDefault();
    setError('');
    try {
      const key = await createOwnKey(name.trim(), days ? Number(days) : undefined);
      setCreated(key.key);
      setCopied(false);
      setName('');
      setDays('');
      await refresh();
    } catch (e) {
      setError((e as Error).message);
    }
  }

  async function revoke(key: ApiKey) {
    await revokeOwnKey(key.id).catch((e: Error) => setError(e.message));
    await refresh();
  }

  return (
    <section class="card" aria-labelledby="keys-title">
      <h2 id="keys-title">{t('apiKeys')}</h2>
      <p class="muted">{t('apiKeysIntro', { url: `${location.origin}/v1` })}</p>
      {created && (
        <div class="notice" role="status">
          <p>{t('newKeyShown')}</p>
          <div class="row">
            <code class="secret" data-testid="new-key">{created}</code>
            <button type="button" class="button" onClick={() => void copyText(created).then(() => setCopied(true))}><Icon name={copied ? 'check' : 'copy'} />{copied ? t('copied') : t('copy')}</button>
          </div>
        </div>
      )}
      <form class="row wrap" onSubmit={create}>
        <label class="field grow"><span>{t('keyName')}</span><input required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
        <label class="field"><span>{t('keyExpires')}</span><input type="number" min={1} max={3650} value={days} onInput={(e) => setDays(e.currentTarget.value)} /></label>
        <button class="button primary align-end" type="submit"><Icon name="key" />{t('createKey')}</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {keys && keys.length === 0 && <p class="muted">{t('noKeys')}</p>}
      {keys && keys.length > 0 && <KeyTable keys={keys} onRevoke={(key) => void revoke(key)} />}
    </section>
  );
}

function YourData({ workspace }: { workspace: Workspace }) {
  const [message, setMessage] = useState('');
  const [agreement, setAgreement] = useState<AgreementResponse | undefined>(undefined);
  const [showAgreement, setShowAgreement] = useState(false);
  useEffect(() => void getAgreement().then(setAgreement, () => undefined), []);

  async function removeAll() {
    if (!confirm(t('confirmDeleteAll'))) return;
    const { deleted } = await deleteAllChats();
    setMessage(t('deletedChats', { count: deleted }));
    await workspace.refreshChats();
  }

  return (
    <section class="card" aria-labelledby="data-title">
      <h2 id="data-title">{t('yourData')}</h2>
      <p class="muted">{t('yourDataIntro')}</p>
      <div class="row wrap">
        <a class="button" href={exportUrl('json')} download><Icon name="download" />{t('exportAllJson')}</a>
        <a class="button" href={exportUrl('markdown')} download><Icon name="download" />{t('exportAllMarkdown')}</a>
        <button type="button" class="button danger" onClick={() => void removeAll()}><Icon name="trash" />{t('deleteAll')}</button>
      </div>
      {message && <p role="status" class="success">{message}</p>}
      {agreement && (
        <div class="agreement-summary">
          <p class="muted small">
            {t('agreementVersion', { version: agreement.version })}
            {agreement.accepted_at && ` · ${t('agreementAcceptedAt', { date: formatDate(agreement.accepted_at) })}`}
          </p>
          <button type="button" class="button link" aria-expanded={showAgreement} onClick={() => setShowAgreement(!showAgreement)}>{t('viewAgreement')}</button>
          {showAgreement && <div class="agreement-text"><Markdown text={agreement.text[getLanguage()]} /></div>}
        </div>
      )}
    </section>
  );
}
