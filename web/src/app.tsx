import { useCallback, useEffect, useState } from 'preact/hooks';
import { getAgreement, getMe, getPublicConfig, listChats, listModels, onSessionProblem, setCsrfToken, type AgreementResponse, type MeResponse, type UiChatSummary, type UiModel } from './api';
import { t, useLanguage } from './i18n';
import { AgreementPage } from './pages/agreement';
import { ChatPage } from './pages/chat';
import { CoursesPage } from './pages/courses';
import { LoginPage } from './pages/login';
import { SettingsPage } from './pages/settings';
import { TemplatesPage } from './pages/templates';
import { Sidebar } from './components/sidebar';
import { usePath } from './router';
import type { Workspace } from './workspace';
import type { AdminPage as AdminPageType } from './pages/admin';

type AdminModule = { AdminPage: typeof AdminPageType };

/** The admin area (and uPlot with it) loads only when someone opens it. */
function LazyAdminPage(props: { me: MeResponse; tab: string; onOpenMenu: () => void }) {
  const [module, setModule] = useState<AdminModule | undefined>(undefined);
  const [failed, setFailed] = useState('');
  useEffect(() => {
    import('./pages/admin').then(setModule, (error: Error) => setFailed(error.message));
  }, []);
  if (failed) return <p class="error" role="alert">{t('genericError', { message: failed })}</p>;
  if (!module) return <div class="page-loading" aria-busy="true">{t('loading')}</div>;
  return <module.AdminPage {...props} />;
}

type Phase =
  | { kind: 'loading' }
  | { kind: 'signed-out'; sso: boolean }
  | { kind: 'agreement'; me: MeResponse; agreement: AgreementResponse }
  | { kind: 'ready'; me: MeResponse }
  | { kind: 'error'; message: string };

export function App() {
  useLanguage();
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });

  const boot = useCallback(async () => {
    try {
      const me = await getMe();
      if (!me.user) {
        const config = await getPublicConfig().catch(() => ({ sso: false }));
        setPhase({ kind: 'signed-out', sso: config.sso });
        return;
      }
      setCsrfToken(me.csrf_token);
      const agreement = await getAgreement();
      setPhase(agreement.accepted ? { kind: 'ready', me } : { kind: 'agreement', me, agreement });
    } catch (error) {
      if ((error as { status?: number }).status === 401) {
        const config = await getPublicConfig().catch(() => ({ sso: false }));
        setPhase({ kind: 'signed-out', sso: config.sso });
      } else {
        setPhase({ kind: 'error', message: (error as Error).message });
      }
    }
  }, []);

  useEffect(() => {
    onSessionProblem(() => void boot());
    void boot();
  }, [boot]);

  switch (phase.kind) {
    case 'loading':
      return <div class="boot" aria-busy="true" aria-label={t('loading')} />;
    case 'signed-out':
      return <LoginPage sso={phase.sso} onSignedIn={boot} />;
    case 'agreement':
      return <AgreementPage agreement={phase.agreement} onAccepted={boot} onSignOut={() => setPhase({ kind: 'signed-out', sso: false })} />;
    case 'error':
      return (
        <main class="centered">
          <p role="alert">{t('genericError', { message: phase.message })}</p>
          <button class="button primary" onClick={() => void boot()}>{t('retry')}</button>
        </main>
      );
    case 'ready':
      return <SignedIn me={phase.me} onSignedOut={boot} />;
  }
}

function SignedIn({ me: initialMe, onSignedOut }: { me: MeResponse; onSignedOut: () => void }) {
  const path = usePath();
  const [me, setMe] = useState(initialMe);
  const [chats, setChats] = useState<UiChatSummary[]>([]);
  const [models, setModels] = useState<UiModel[] | undefined>(undefined);
  const [search, setSearch] = useState('');
  const [menuOpen, setMenuOpen] = useState(false);

  const refreshChats = useCallback(async () => {
    setChats(await listChats(search));
  }, [search]);

  useEffect(() => {
    const timer = setTimeout(() => void refreshChats().catch(() => undefined), search ? 250 : 0);
    return () => clearTimeout(timer);
  }, [refreshChats, search]);

  useEffect(() => {
    void listModels().then(setModels, () => setModels([]));
  }, []);

  useEffect(() => setMenuOpen(false), [path]);

  const workspace: Workspace = {
    me, chats, models, search, setSearch, refreshChats,
    refreshMe: async () => setMe(await getMe()),
    signOut: onSignedOut,
  };

  const chatMatch = /^\/c\/([^/]+)$/.exec(path);
  let content;
  if (path === '/settings') content = <SettingsPage workspace={workspace} onOpenMenu={() => setMenuOpen(true)} />;
  else if (path === '/templates') content = <TemplatesPage onOpenMenu={() => setMenuOpen(true)} />;
  else if (path === '/courses' || path.startsWith('/courses/')) {
    const course = path.split('/')[2];
    content = <CoursesPage workspace={workspace} name={course ? decodeURIComponent(course) : undefined} onOpenMenu={() => setMenuOpen(true)} />;
  } else if (path === '/admin' || path.startsWith('/admin/')) {
    content = <LazyAdminPage me={me} tab={path.split('/')[2] ?? 'users'} onOpenMenu={() => setMenuOpen(true)} />;
  } else content = <ChatPage workspace={workspace} chatId={chatMatch ? decodeURIComponent(chatMatch[1]!) : undefined} onOpenMenu={() => setMenuOpen(true)} />;

  return (
    <div class={`shell${menuOpen ? ' menu-open' : ''}`}>
      <a class="skip-link" href="#main">{t('skipToContent')}</a>
      <Sidebar workspace={workspace} activeChatId={chatMatch?.[1]} path={path} onClose={() => setMenuOpen(false)} />
      <button type="button" class="scrim" tabIndex={-1} aria-hidden="true" onClick={() => setMenuOpen(false)} />
      <main id="main" class="main" tabIndex={-1}>
        {content}
      </main>
    </div>
  );
}
