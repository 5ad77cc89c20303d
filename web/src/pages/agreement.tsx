import { useState } from 'preact/hooks';
import { acceptAgreement, logout, type AgreementResponse } from '../api';
import { Markdown } from '../components/markdown-view';
import { PreferenceControls } from '../components/preferences';
import { getLanguage, t } from '../i18n';

/** Shown after sign-in until the current agreement version is accepted; nothing else is reachable. */
export function AgreementPage({ agreement, onAccepted, onSignOut }: { agreement: AgreementResponse; onAccepted: () => void; onSignOut: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const text = agreement.text[getLanguage()];

  async function accept() {
    setBusy(true);
    try {
      await acceptAgreement(agreement.version);
      onAccepted();
    } catch (e) {
      setError((e as Error).message);
      setBusy(false);
    }
  }

  async function decline() {
    await logout().catch(() => undefined);
    onSignOut();
  }

  return (
    <main class="auth-page">
      <section class="auth-card wide" aria-labelledby="agreement-title">
        <h1 id="agreement-title">{t('agreementTitle')}</h1>
        <p class="muted">{t('agreementIntro')} <span class="badge">{t('agreementVersion', { version: agreement.version })}</span></p>
        <div class="agreement-text" tabIndex={0} aria-label={t('agreementTitle')}>
          <Markdown text={text} />
        </div>
        {error && <p class="error" role="alert">{error}</p>}
        <div class="row end">
          <button class="button" type="button" onClick={() => void decline()}>{t('agreementDecline')}</button>
          <button class="button primary" type="button" onClick={() => void accept()} disabled={busy}>{t('agreementAccept')}</button>
        </div>
        <PreferenceControls compact />
      </section>
    </main>
  );
}
