import { useEffect, useRef, useState } from 'preact/hooks';
import { deleteChat, exportUrl, logout, updateChat, type UiChatSummary } from '../api';
import type { Workspace } from '../workspace';
import { t } from '../i18n';
import { linkHandler, navigate } from '../router';
import { Icon } from './icon';
import { PreferenceControls } from './preferences';

function dayGroup(iso: string): 'today' | 'yesterday' | 'earlier' {
  const date = new Date(iso);
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  if (date >= today) return 'today';
  if (date.getTime() >= today.getTime() - 86_400_000) return 'yesterday';
  return 'earlier';
}

export function Sidebar({ workspace, activeChatId, path, onClose }: { workspace: Workspace; activeChatId?: string; path: string; onClose: () => void }) {
  const { chats, search, setSearch, me } = workspace;
  const groups: Record<'today' | 'yesterday' | 'earlier', UiChatSummary[]> = { today: [], yesterday: [], earlier: [] };
  for (const chat of chats) groups[dayGroup(chat.updated_at)].push(chat);

  async function signOut() {
    await logout().catch(() => undefined);
    navigate('/', { replace: true });
    workspace.signOut();
  }

  return (
    <aside class="sidebar" aria-label={t('chatHistory')}>
      <div class="sidebar-top">
        <a class="brand" href="/" onClick={linkHandler('/')}><span class="brand-mark" aria-hidden="true">F</span>{t('appName')}</a>
        <button type="button" class="icon-button only-mobile" aria-label={t('closeMenu')} onClick={onClose}><Icon name="close" /></button>
      </div>
      <a class="button primary block new-chat" href="/" onClick={linkHandler('/')}><Icon name="plus" />{t('newChat')}</a>
      <label class="search">
        <Icon name="search" />
        <span class="visually-hidden">{t('searchChats')}</span>
        <input type="search" placeholder={t('searchChats')} value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
      </label>
      <nav class="chat-list" aria-label={t('chatHistory')}>
        {chats.length === 0 && <p class="muted small pad">{search ? t('noMatches') : t('noChats')}</p>}
        {(['today', 'yesterday', 'earlier'] as const).map((group) => groups[group].length > 0 && (
          <section key={group} aria-label={t(group)}>
            <h2 class="group-title">{t(group)}</h2>
            <ul>
              {groups[group].map((chat) => <ChatItem key={chat.id} chat={chat} active={chat.id === activeChatId} workspace={workspace} />)}
            </ul>
          </section>
        ))}
      </nav>
      <div class="sidebar-bottom">
        <div class="user-line" title={me.user?.email}>
          <span class="avatar" aria-hidden="true">{(me.user?.display_name ?? me.user?.email ?? '?').slice(0, 1).toUpperCase()}</span>
          <span class="ellipsis">{me.user?.display_name ?? me.user?.email}</span>
        </div>
        <div class="sidebar-links">
          <a class={`nav-link${path === '/templates' ? ' active' : ''}`} href="/templates" onClick={linkHandler('/templates')} aria-current={path === '/templates' ? 'page' : undefined}><Icon name="sliders" />{t('templates')}</a>
          <a class={`nav-link${path.startsWith('/courses') ? ' active' : ''}`} href="/courses" onClick={linkHandler('/courses')} aria-current={path.startsWith('/courses') ? 'page' : undefined}><Icon name="globe" />{t('courseBots')}</a>
          <a class={`nav-link${path === '/settings' ? ' active' : ''}`} href="/settings" onClick={linkHandler('/settings')} aria-current={path === '/settings' ? 'page' : undefined}><Icon name="settings" />{t('settings')}</a>
          {me.policy.admin && <a class={`nav-link${path.startsWith('/admin') ? ' active' : ''}`} href="/admin" onClick={linkHandler('/admin')} aria-current={path.startsWith('/admin') ? 'page' : undefined}><Icon name="shield" />{t('admin')}</a>}
          <button type="button" class="nav-link" onClick={() => void signOut()}><Icon name="logout" />{t('signOut')}</button>
        </div>
        <PreferenceControls compact />
      </div>
    </aside>
  );
}

function ChatItem({ chat, active, workspace }: { chat: UiChatSummary; active: boolean; workspace: Workspace }) {
  const [menu, setMenu] = useState(false);
  const [renaming, setRenaming] = useState(false);
  const [title, setTitle] = useState(chat.title);
  const menuRef = useRef<HTMLDivElement>(null);
  const label = chat.title || t('untitled');

  useEffect(() => {
    if (!menu) return;
    const close = (event: Event) => {
      if (event instanceof KeyboardEvent && event.key !== 'Escape') return;
      if (event.type === 'pointerdown' && menuRef.current?.contains(event.target as Node)) return;
      setMenu(false);
    };
    document.addEventListener('pointerdown', close);
    document.addEventListener('keydown', close);
    menuRef.current?.querySelector<HTMLElement>('[role=menuitem]')?.focus();
    return () => {
      document.removeEventListener('pointerdown', close);
      document.removeEventListener('keydown', close);
    };
  }, [menu]);

  async function rename(event: Event) {
    event.preventDefault();
    await updateChat(chat.id, { title });
    setRenaming(false);
    await workspace.refreshChats();
  }

  async function remove() {
    setMenu(false);
    if (!confirm(t('confirmDelete', { title: label }))) return;
    await deleteChat(chat.id);
    if (active) navigate('/', { replace: true });
    await workspace.refreshChats();
  }

  if (renaming) {
    return (
      <li>
        <form class="rename" onSubmit={rename}>
          <input aria-label={t('renameTo')} value={title} maxLength={200} autoFocus onInput={(e) => setTitle(e.currentTarget.value)}
            onKeyDown={(e) => e.key === 'Escape' && setRenaming(false)} />
          <button class="icon-button" type="submit" aria-label={t('save')}><Icon name="check" /></button>
        </form>
      </li>
    );
  }
  return (
    <li class={`chat-item${active ? ' active' : ''}`}>
      <a href={`/c/${chat.id}`} onClick={linkHandler(`/c/${chat.id}`)} aria-current={active ? 'page' : undefined} class="ellipsis">{label}</a>
      <div class="item-menu" ref={menuRef}>
        <button type="button" class="icon-button subtle" aria-haspopup="menu" aria-expanded={menu} aria-label={t('chatActions', { title: label })} onClick={() => setMenu(!menu)}>
          <Icon name="more" />
        </button>
        {menu && (
          <div class="menu" role="menu">
            <button role="menuitem" type="button" onClick={() => { setMenu(false); setTitle(chat.title); setRenaming(true); }}><Icon name="edit" />{t('rename')}</button>
            <a role="menuitem" href={exportUrl('json', chat.id)} download onClick={() => setMenu(false)}><Icon name="download" />{t('exportJson')}</a>
            <a role="menuitem" href={exportUrl('markdown', chat.id)} download onClick={() => setMenu(false)}><Icon name="download" />{t('exportMarkdown')}</a>
            <button role="menuitem" type="button" class="danger" onClick={() => void remove()}><Icon name="trash" />{t('delete')}</button>
          </div>
        )}
      </div>
    </li>
  );
}
