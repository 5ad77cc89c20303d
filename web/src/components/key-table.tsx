// The table of API keys on the settings page (your own keys) and in the admin keys tab (every
// key, with its owner). Below 600 px each row becomes a block of labelled lines (`.stack-table`
// in styles.css), so long names and owners never push the table off a phone's screen.
import type { ComponentChildren } from 'preact';
import type { ApiKey } from '../api';
import { formatDate, t } from '../i18n';

interface KeyTableProps {
  keys: readonly ApiKey[];
  /** Revokes a key the user has confirmed revoking. */
  onRevoke: (key: ApiKey) => void;
  /** The owner column (admin): what to show for a key; no column when absent. */
  owner?: (key: ApiKey) => ComponentChildren;
}

export function KeyTable({ keys, onRevoke, owner }: KeyTableProps) {
  function revoke(key: ApiKey) {
    if (confirm(t('confirmRevoke', { name: key.name }))) onRevoke(key);
  }
  return (
    <div class="table-wrap">
      <table class="keys-table stack-table">
        <thead>
          <tr>
            <th scope="col">{t('keyName')}</th>
            {owner && <th scope="col">{t('owner')}</th>}
            <th scope="col">Prefix</th>
            <th scope="col">{t('created')}</th>
            <th scope="col">{t('lastUsed')}</th>
            <th scope="col"><span class="visually-hidden">{t('revoke')}</span></th>
          </tr>
        </thead>
        <tbody>
          {keys.map((key) => (
            <tr key={key.id} class={key.revoked_at ? 'muted' : ''}>
              <td data-label={t('keyName')}>{key.name}{key.scopes && key.scopes.length > 0 && <div class="muted small">{key.scopes.join(', ')}</div>}</td>
              {owner && <td data-label={t('owner')}>{owner(key)}</td>}
              <td data-label="Prefix"><code>{key.prefix}…</code></td>
              <td data-label={t('created')}>{formatDate(key.created_at, false)}</td>
              <td data-label={t('lastUsed')}>{key.last_used_at ? formatDate(key.last_used_at) : t('never')}</td>
              <td class="right">{key.revoked_at ? <span class="badge">{t('revoked')}</span> : <button type="button" class="button small danger" onClick={() => revoke(key)}>{t('revoke')}</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
