// The admin area (loaded on demand): users and roles, keys, nodes and models live, usage charts.
import { useEffect, useState } from 'preact/hooks';
import { api, setUserPassword, type AdminNodeReply as NodeRow, type AdminSchedulerReply, type ApiKey, type MeResponse, type UiUser } from '../api';
import { Icon } from '../components/icon';
import { KeyTable } from '../components/key-table';
import { UsageCharts } from '../components/usage-charts';
import { CatalogTab } from '../components/catalog-tab';
import { EnergyDashboard } from '../components/energy-dashboard';
import { formatDate, t, type MessageKey } from '../i18n';
import { linkHandler } from '../router';

const TABS: { id: string; label: MessageKey }[] = [
  { id: 'users', label: 'adminUsers' },
  { id: 'keys', label: 'adminKeys' },
  { id: 'nodes', label: 'adminNodes' },
  { id: 'usage', label: 'adminUsage' },
  { id: 'catalog', label: 'adminCatalog' },
  { id: 'energy', label: 'adminEnergy' },
];

export function AdminPage({ me, tab, onOpenMenu }: { me: MeResponse; tab: string; onOpenMenu: () => void }) {
  if (!me.policy.admin) return <div class="page"><p class="error" role="alert">{t('notAdmin')}</p></div>;
  const active = TABS.some((x) => x.id === tab) ? tab : 'users';
  return (
    <div class="page">
      <header class="page-header">
        <div class="row">
          <button type="button" class="icon-button only-mobile" aria-label={t('openMenu')} onClick={onOpenMenu}><Icon name="menu" /></button>
          <h1>{t('admin')}</h1>
        </div>
        <nav class="tabs" aria-label={t('admin')}>
          {TABS.map((x) => (
            <a key={x.id} href={`/admin/${x.id}`} class={`tab${x.id === active ? ' active' : ''}`} aria-current={x.id === active ? 'page' : undefined} onClick={linkHandler(`/admin/${x.id}`)}>{t(x.label)}</a>
          ))}
        </nav>
      </header>
      <div class="page-body">
        {active === 'users' && <UsersTab />}
        {active === 'keys' && <KeysTab />}
        {active === 'nodes' && <NodesTab />}
        {active === 'usage' && <UsageCharts />}
        {active === 'catalog' && <CatalogTab />}
        {active === 'energy' && <EnergyDashboard />}
      </div>
    </div>
  );
}

function ErrorLine({ error }: { error: string }) {
  return error ? <p class="error" role="alert">{error}</p> : null;
}

function UsersTab() {
  const [users, setUsers] = useState<UiUser[]>([]);
  const [search, setSearch] = useState('');
  const [error, setError] = useState('');
  const [email, setEmail] = useState('');
  const [roles, setRoles] = useState('student');
  const [editing, setEditing] = useState<string | undefined>(undefined);
  const [editRoles, setEditRoles] = useState('');
  const [password, setPassword] = useState('');
  const [resetting, setResetting] = useState<UiUser | undefined>(undefined);
  const [resetPassword, setResetPassword] = useState('');
  const [notice, setNotice] = useState('');

  const refresh = () => api<{ data: UiUser[] }>('GET', `/admin/v1/users?limit=500${search ? `&search=${encodeURIComponent(search)}` : ''}`)
    .then((r) => setUsers(r.data), (e: Error) => setError(e.message));
  useEffect(() => {
    const timer = setTimeout(() => void refresh(), 200);
    return () => clearTimeout(timer);
  }, [search]);

  const splitRoles = (text: string) => text.split(',').map((r) => r.trim()).filter(Boolean);
  /** Runs a change and reloads the list; false (with the error shown) when the change failed. */
  async function act(run: () => Promise<unknown>): Promise<boolean> {
    setError('');
    setNotice('');
    try {
      await run();
      await refresh();
      return true;
    } catch (e) {
      setError((e as Error).message);
      return false;
    }
  }

  return (
    <section class="card" aria-labelledby="users-title">
      <div class="row between wrap">
        <h2 id="users-title">{t('adminUsers')}</h2>
        <label class="search compact"><Icon name="search" /><span class="visually-hidden">{t('search')}</span>
          <input type="search" placeholder={t('search')} value={search} onInput={(e) => setSearch(e.currentTarget.value)} /></label>
      </div>
      {/* Without a password a local user could never sign in (unless single sign-on knows them). */}
      <form class="row wrap" onSubmit={(e) => {
        e.preventDefault();
        void act(() => api('POST', '/admin/v1/users', { email, roles: splitRoles(roles), ...(password ? { password } : {}) }).then(() => { setEmail(''); setPassword(''); }));
      }}>
        <label class="field grow"><span>{t('email')}</span><input type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} /></label>
        <label class="field"><span>{t('changeRoles')}</span><input required value={roles} onInput={(e) => setRoles(e.currentTarget.value)} /></label>
        <label class="field"><span>{t('initialPassword')}</span>
          <input type="password" autocomplete="new-password" minLength={8} maxLength={1024} value={password} onInput={(e) => setPassword(e.currentTarget.value)} /></label>
        <button class="button primary align-end" type="submit"><Icon name="plus" />{t('addUser')}</button>
      </form>
      <ErrorLine error={error} />
      {notice && <p class="success" role="status">{notice}</p>}
      {resetting && (
        <form class="row wrap" onSubmit={(e) => {
          e.preventDefault();
          const user = resetting;
          void act(() => setUserPassword(user.id, resetPassword)).then((ok) => {
            if (!ok) return;
            setResetting(undefined);
            setResetPassword('');
            setNotice(t('passwordSetFor', { email: user.email }));
          });
        }}>
          <label class="field grow"><span>{t('setPasswordFor', { email: resetting.email })}</span>
            <input type="password" autocomplete="new-password" required minLength={8} maxLength={1024} autoFocus value={resetPassword}
              onInput={(e) => setResetPassword(e.currentTarget.value)} onKeyDown={(e) => e.key === 'Escape' && setResetting(undefined)} /></label>
          <button class="button primary align-end" type="submit">{t('setPassword')}</button>
          <button class="button align-end" type="button" onClick={() => setResetting(undefined)}>{t('cancel')}</button>
        </form>
      )}
      <div class="table-wrap">
        <table class="stack-table">
          <thead><tr><th scope="col">{t('email')}</th><th scope="col">{t('roles')}</th><th scope="col">{t('status')}</th><th scope="col">{t('lastLogin')}</th><th scope="col"><span class="visually-hidden">{t('edit')}</span></th></tr></thead>
          <tbody>
            {users.map((user) => (
              <tr key={user.id}>
                <td data-label={t('email')}><div>{user.email}</div>{user.display_name && <div class="muted small">{user.display_name}</div>}</td>
                <td data-label={t('roles')}>
                  {editing === user.id
                    ? <form class="row" onSubmit={(e) => { e.preventDefault(); void act(() => api('PATCH', `/admin/v1/users/${user.id}`, { roles: splitRoles(editRoles) })).then(() => setEditing(undefined)); }}>
                        <input aria-label={t('changeRoles')} value={editRoles} autoFocus onInput={(e) => setEditRoles(e.currentTarget.value)} onKeyDown={(e) => e.key === 'Escape' && setEditing(undefined)} />
                        <button class="icon-button" type="submit" aria-label={t('save')}><Icon name="check" /></button>
                      </form>
                    : <button type="button" class="button link" aria-label={`${t('changeRoles')}: ${user.email}`} onClick={() => { setEditing(user.id); setEditRoles(user.roles.join(', ')); }}>
                        {user.roles.map((r) => <span key={r} class="badge">{r}</span>)}<Icon name="edit" size={14} />
                      </button>}
                </td>
                <td data-label={t('status')}><span class={`badge ${user.disabled ? 'bad' : 'good'}`}>{user.disabled ? t('disabled') : t('active')}</span></td>
                <td data-label={t('lastLogin')}>{user.last_login_at ? formatDate(user.last_login_at) : t('never')}</td>
                <td class="right nowrap">
                  <button type="button" class="button small" aria-label={`${t('setPassword')}: ${user.email}`} onClick={() => { setResetting(user); setResetPassword(''); }}>{t('setPassword')}</button>
                  {' '}
                  <button type="button" class="button small" onClick={() => void act(() => api('PATCH', `/admin/v1/users/${user.id}`, { disabled: !user.disabled }))}>
                    {user.disabled ? t('enable') : t('disable')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function KeysTab() {
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [users, setUsers] = useState<Map<string, string>>(new Map());
  const [error, setError] = useState('');
  const refresh = () => api<{ data: ApiKey[] }>('GET', '/admin/v1/keys').then((r) => setKeys(r.data), (e: Error) => setError(e.message));
  useEffect(() => {
    void refresh();
    void api<{ data: UiUser[] }>('GET', '/admin/v1/users?limit=1000').then((r) => setUsers(new Map(r.data.map((u) => [u.id, u.email]))), () => undefined);
  }, []);

  async function revoke(key: ApiKey) {
    await api('DELETE', `/admin/v1/keys/${key.id}`).catch((e: Error) => setError(e.message));
    await refresh();
  }

  return (
    <section class="card" aria-labelledby="keys-admin-title">
      <h2 id="keys-admin-title">{t('adminKeys')}</h2>
      <ErrorLine error={error} />
      <KeyTable keys={keys} onRevoke={(key) => void revoke(key)} owner={(key) => key.user_id
        ? users.get(key.user_id) ?? key.user_id
        : <span class="badge">{t('operatorKey')}{key.role ? `: ${key.role}` : ''}</span>} />
    </section>
  );
}

const POLL_MS = 5000;

/** Priority classes in the server's order (highest first), as the scheduler reports them. */
function classesOf(view: AdminSchedulerReply): string[] {
  return [...new Set(view.models.flatMap((m) => Object.keys(m.queuedByClass)))];
}

function NodesTab() {
  const [nodes, setNodes] = useState<NodeRow[]>([]);
  const [scheduler, setScheduler] = useState<AdminSchedulerReply | undefined>(undefined);
  const [error, setError] = useState('');

  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        const [n, s] = await Promise.all([
          api<{ data: NodeRow[] }>('GET', '/admin/v1/nodes'),
          api<AdminSchedulerReply>('GET', '/admin/v1/scheduler').catch(() => undefined),
        ]);
        if (stopped) return;
        setNodes(n.data);
        setScheduler(s);
        setError('');
      } catch (e) {
        if (!stopped) setError((e as Error).message);
      }
    };
    void load();
    const timer = setInterval(() => void load(), POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  return (
    <>
      <p class="muted small" aria-live="off">{t('refreshEvery', { seconds: POLL_MS / 1000 })}</p>
      <ErrorLine error={error} />
      <div class="grid">
        {nodes.map((node) => {
          const state = node.healthy === false ? 'bad' : node.draining ? 'warn' : 'good';
          return (
            <section key={node.name} class="card node" aria-label={`${t('node')} ${node.name}`}>
              <div class="row between">
                <h2>{node.name} <span class="muted small">{node.type}</span></h2>
                <span class={`badge ${state}`}>{node.healthy === false ? t('unhealthy') : node.draining ? t('draining') : t('healthy')}</span>
              </div>
              <p class="muted small">{node.in_flight} {t('inFlight')}{node.breaker && node.breaker !== 'closed' ? ` · breaker ${node.breaker}` : ''}</p>
              {node.listing_error && <p class="error small">{node.listing_error}</p>}
              <ul class="model-rows">
                {node.models.map((model) => {
                  const loading = node.preloading?.includes(model) ?? false;
                  const resident = node.resident.includes(model);
                  return (
                    <li key={model}>
                      <span class={`dot ${loading ? 'loading' : resident ? 'on' : ''}`} aria-hidden="true" />
                      <span class="ellipsis">{model}</span>
                      <span class="muted small">{loading ? `${t('preloading')} · ` : resident ? `${t('resident')} · ` : ''}{node.slots[model] ?? '–'} {t(node.slots[model] === 1 ? 'slot' : 'slots')}{limitNote(node, model)}</span>
                    </li>
                  );
                })}
              </ul>
            </section>
          );
        })}
      </div>
      {scheduler && scheduler.models.length > 0 && (
        <section class="card" aria-labelledby="queue-title">
          <h2 id="queue-title">{t('queue')}</h2>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('model')}</th>
                  {classesOf(scheduler).map((c) => (
                    <th scope="col" class="right" key={c}>{c}<br /><span class="muted small">{t('inFlight')} / {t('waiting')}</span></th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {scheduler.models.map((m) => (
                  <tr key={m.model}>
                    <td>{m.model}</td>
                    {classesOf(scheduler).map((c) => (
                      <td class="right" key={c}>{m.inFlightByClass?.[c] ?? '–'} / {m.queuedByClass[c] ?? 0}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </>
  );
}

/** ` (learning, max 64)` after the slot count: the scheduler learns the limit up to its maximum. */
function limitNote(node: NodeRow, model: string): string {
  const c = node.concurrency?.[model];
  if (!c || c.phase === 'fixed') return '';
  return ` (${t(c.phase === 'learning' ? 'limitLearning' : 'limitSteady')}, max ${c.max})`;
}
