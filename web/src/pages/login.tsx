import { useState } from 'preact/hooks';
import type { ApiError } from '../api';
import { getMe, login } from '../api';
import { t } from '../i18n';
import { PreferenceControls } from '../components/preferences';

export function LoginPage({ sso, onSignedIn }: { sso: boolean; onSignedIn: () => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError('');
    try {
      await login(email, password);
      // The login answered 200, but a browser drops a Secure cookie that came over plain HTTP:
      // ask who is signed in, and say why instead of spinning on "Signing in…" for ever.
      const me = await getMe().catch(() => undefined);
      if (!me?.user) {
        setError(t('cookieNotKept'));
        setBusy(false);
        return;
      }
      onSignedIn();
    } catch (e) {
      const status = (e as ApiError).status;
      setError(status === 429 ? t('tooManyAttempts') : status === 401 ? t('wrongPassword') : (e as Error).message);
      setBusy(false);
    }
  }

  const returnTo = encodeURIComponent(location.pathname + location.search);
  return (
    <main class="auth-page">
      <div class="auth-card">
        <div class="brand-large" aria-hidden="true">F</div>
        <h1>{t('signInTitle')}</h1>
        <p class="muted">{t('signInIntro')}</p>
        {sso && (
          <>
            <a class="button primary block" href={`/auth/oidc/start?return_to=${returnTo}`}>{t('signInSso')}</a>
            <p class="divider"><span>{t('or')}</span></p>
          </>
        )}
        <form onSubmit={submit} class="stack" aria-describedby={error ? 'login-error' : undefined}>
          <label class="field">
            <span>{t('email')}</span>
            <input type="email" name="email" autocomplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} autoFocus />
          </label>
          <label class="field">
            <span>{t('password')}</span>
            <input type="password" name="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </label>
          {error && <p id="login-error" class="error" role="alert">{error}</p>}
          <button class={`button ${sso ? '' : 'primary'} block`} type="submit" disabled={busy}>{busy ? t('signingIn') : t('signIn')}</button>
        </form>
        <PreferenceControls compact />
      </div>
    </main>
  );
}
