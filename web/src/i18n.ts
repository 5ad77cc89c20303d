// German and English. The browser's language picks the first; the user can switch (kept in localStorage).
import { useEffect, useState } from 'preact/hooks';
import { readSetting, writeSetting } from './storage';

const en = {
  appName: 'Flexi',
  loading: 'Loading…',
  skipToContent: 'Skip to the conversation',
  // sign-in
  signInTitle: 'Sign in',
  signInIntro: 'Open language models on your university\'s own servers.',
  email: 'E-mail',
  password: 'Password',
  signIn: 'Sign in',
  signingIn: 'Signing in…',
  signInSso: 'Sign in with your university account',
  or: 'or',
  wrongPassword: 'Wrong e-mail or password.',
  tooManyAttempts: 'Too many attempts. Try again in a moment.',
  cookieNotKept: 'The password was right, but your browser did not keep the session cookie: it is marked Secure (HTTPS only) and this page came over plain HTTP. Open Flexi over HTTPS, or ask the operator to set auth.cookie_secure to auto (or false on a test setup).',
  // agreement
  agreementTitle: 'User agreement',
  agreementIntro: 'Please read and accept the terms before you start.',
  agreementAccept: 'I accept',
  agreementDecline: 'Sign out',
  agreementVersion: 'Version {version}',
  agreementAcceptedAt: 'Accepted on {date}',
  // shell
  newChat: 'New chat',
  searchChats: 'Search chats',
  noChats: 'No chats yet.',
  noMatches: 'No chats match.',
  chatHistory: 'Chat history',
  untitled: 'New chat',
  openMenu: 'Open menu',
  closeMenu: 'Close menu',
  settings: 'Settings',
  admin: 'Administration',
  signOut: 'Sign out',
  language: 'Language',
  theme: 'Theme',
  themeSystem: 'System',
  themeLight: 'Light',
  themeDark: 'Dark',
  today: 'Today',
  yesterday: 'Yesterday',
  earlier: 'Earlier',
  // chat list actions
  chatActions: 'Actions for “{title}”',
  rename: 'Rename',
  renameTo: 'New title',
  save: 'Save',
  cancel: 'Cancel',
  delete: 'Delete',
  exportJson: 'Export as JSON',
  exportMarkdown: 'Export as Markdown',
  confirmDelete: 'Delete “{title}”? This cannot be undone.',
  // chat
  model: 'Model',
  noModels: 'No models are available to you.',
  chatSettings: 'Chat settings',
  systemPrompt: 'System prompt',
  systemPromptHint: 'Instructions the model follows in this chat.',
  temperature: 'Temperature',
  temperatureDefault: 'Model default',
  temperatureHint: 'Lower is more focused, higher more varied.',
  close: 'Close',
  messagePlaceholder: 'Message {model}…',
  messageLabel: 'Your message',
  send: 'Send',
  stop: 'Stop',
  you: 'You',
  assistant: 'Assistant',
  copy: 'Copy',
  copied: 'Copied',
  copyCode: 'Copy code',
  edit: 'Edit',
  editMessage: 'Edit message',
  saveAndSend: 'Save and send',
  regenerate: 'Regenerate',
  stopped: 'Stopped',
  truncated: 'Cut off at the length limit',
  failed: 'Failed: {message}',
  thinking: 'Thinking…',
  queued: 'Waiting for a free slot…',
  queuedPosition: 'Waiting in the queue: position {position}',
  queuedEta: 'about {seconds} s',
  answerDone: 'Answer complete.',
  emptyTitle: 'How can I help?',
  emptyHint: 'Everything runs on your university\'s servers. Your chats are visible only to you.',
  keyboardHint: 'Enter sends · Shift+Enter new line · Esc stops',
  chatNotFound: 'This chat does not exist or belongs to someone else.',
  backToChats: 'Start a new chat',
  // settings
  account: 'Account',
  changePassword: 'Change password',
  currentPassword: 'Current password',
  newPassword: 'New password',
  passwordChanged: 'Password changed. Your other sessions have been signed out.',
  roles: 'Roles',
  usage: 'Your usage',
  budgetDay: 'Today',
  budgetWeek: 'This week',
  budgetTerm: 'This term',
  budgetResets: 'resets {date}',
  tokensOf: '{used} of {limit} tokens',
  noBudgets: 'Your role has no token budget.',
  apiKeys: 'API keys',
  apiKeysIntro: 'Use Flexi from scripts and tools with an OpenAI- or Ollama-compatible client. Base URL: {url}',
  keyName: 'Name',
  keyExpires: 'Expires after (days, optional)',
  createKey: 'Create key',
  newKeyShown: 'Your new key. Copy it now: it will not be shown again.',
  revoke: 'Revoke',
  revoked: 'revoked',
  confirmRevoke: 'Revoke the key “{name}”? Programs using it stop working.',
  noKeys: 'No API keys yet.',
  created: 'Created',
  lastUsed: 'Last used',
  never: 'never',
  yourData: 'Your data',
  yourDataIntro: 'Download or delete all your chats.',
  exportAllJson: 'Download all chats (JSON)',
  exportAllMarkdown: 'Download all chats (Markdown)',
  deleteAll: 'Delete all my chats',
  confirmDeleteAll: 'Delete all your chats? This cannot be undone.',
  deletedChats: '{count} chats deleted.',
  preferences: 'Preferences',
  viewAgreement: 'Show the user agreement',
  // admin
  adminUsers: 'Users',
  adminKeys: 'Keys',
  adminNodes: 'Nodes and models',
  adminUsage: 'Usage',
  search: 'Search',
  addUser: 'Add user',
  initialPassword: 'Password (min. 8 characters)',
  setPassword: 'Set password',
  setPasswordFor: 'New password for {email}',
  passwordSetFor: 'Password set for {email}; their sessions have ended.',
  displayName: 'Name',
  status: 'Status',
  active: 'active',
  disabled: 'disabled',
  disable: 'Disable',
  enable: 'Enable',
  changeRoles: 'Roles (comma-separated)',
  lastLogin: 'Last login',
  owner: 'Owner',
  operatorKey: 'operator',
  healthy: 'healthy',
  unhealthy: 'down',
  draining: 'draining',
  inFlight: 'running',
  slots: 'slots',
  slot: 'slot',
  resident: 'loaded',
  preloading: 'loading',
  limitLearning: 'learning',
  limitSteady: 'learned',
  queue: 'Queue',
  waiting: 'waiting',
  node: 'Node',
  models: 'Models',
  refreshEvery: 'Updates every {seconds} s',
  tokensPerDay: 'Tokens per day',
  day: 'Day',
  tokensPerModel: 'Tokens per model',
  requests: 'Requests',
  tokens: 'Tokens',
  errors: 'Errors',
  period: 'Period',
  last7: 'Last 7 days',
  last30: 'Last 30 days',
  last90: 'Last 90 days',
  noUsage: 'No usage in this period.',
  notAdmin: 'You need an administrator role for this page.',
  genericError: 'Something went wrong: {message}',
  retry: 'Try again',
};

export type MessageKey = keyof typeof en;
type Dictionary = Record<MessageKey, string>;

const de: Dictionary = {
  appName: 'Flexi',
  loading: 'Wird geladen…',
  skipToContent: 'Zur Unterhaltung springen',
  signInTitle: 'Anmelden',
  signInIntro: 'Offene Sprachmodelle auf den eigenen Servern Ihrer Hochschule.',
  email: 'E-Mail',
  password: 'Passwort',
  signIn: 'Anmelden',
  signingIn: 'Anmeldung läuft…',
  signInSso: 'Mit dem Hochschulkonto anmelden',
  or: 'oder',
  wrongPassword: 'E-Mail oder Passwort ist falsch.',
  tooManyAttempts: 'Zu viele Versuche. Bitte gleich noch einmal versuchen.',
  cookieNotKept: 'Das Passwort war richtig, aber Ihr Browser hat das Sitzungs-Cookie nicht behalten: Es ist als Secure (nur HTTPS) markiert, und diese Seite kam über einfaches HTTP. Öffnen Sie Flexi über HTTPS oder bitten Sie den Betrieb, auth.cookie_secure auf auto (in einer Testumgebung auf false) zu setzen.',
  agreementTitle: 'Nutzungsvereinbarung',
  agreementIntro: 'Bitte lesen und akzeptieren Sie die Bedingungen, bevor Sie beginnen.',
  agreementAccept: 'Ich stimme zu',
  agreementDecline: 'Abmelden',
  agreementVersion: 'Fassung {version}',
  agreementAcceptedAt: 'Zugestimmt am {date}',
  newChat: 'Neuer Chat',
  searchChats: 'Chats durchsuchen',
  noChats: 'Noch keine Chats.',
  noMatches: 'Keine passenden Chats.',
  chatHistory: 'Chatverlauf',
  untitled: 'Neuer Chat',
  openMenu: 'Menü öffnen',
  closeMenu: 'Menü schließen',
  settings: 'Einstellungen',
  admin: 'Verwaltung',
  signOut: 'Abmelden',
  language: 'Sprache',
  theme: 'Darstellung',
  themeSystem: 'System',
  themeLight: 'Hell',
  themeDark: 'Dunkel',
  today: 'Heute',
  yesterday: 'Gestern',
  earlier: 'Früher',
  chatActions: 'Aktionen für „{title}“',
  rename: 'Umbenennen',
  renameTo: 'Neuer Titel',
  save: 'Speichern',
  cancel: 'Abbrechen',
  delete: 'Löschen',
  exportJson: 'Als JSON exportieren',
  exportMarkdown: 'Als Markdown exportieren',
  confirmDelete: '„{title}“ löschen? Das kann nicht rückgängig gemacht werden.',
  model: 'Modell',
  noModels: 'Für Sie sind keine Modelle freigegeben.',
  chatSettings: 'Chat-Einstellungen',
  systemPrompt: 'Systemanweisung',
  systemPromptHint: 'Anweisungen, denen das Modell in diesem Chat folgt.',
  temperature: 'Temperatur',
  temperatureDefault: 'Standard des Modells',
  temperatureHint: 'Niedriger ist fokussierter, höher abwechslungsreicher.',
  close: 'Schließen',
  messagePlaceholder: 'Nachricht an {model}…',
  messageLabel: 'Ihre Nachricht',
  send: 'Senden',
  stop: 'Stopp',
  you: 'Sie',
  assistant: 'Assistent',
  copy: 'Kopieren',
  copied: 'Kopiert',
  copyCode: 'Code kopieren',
  edit: 'Bearbeiten',
  editMessage: 'Nachricht bearbeiten',
  saveAndSend: 'Speichern und senden',
  regenerate: 'Neu erzeugen',
  stopped: 'Angehalten',
  truncated: 'Am Längenlimit abgeschnitten',
  failed: 'Fehlgeschlagen: {message}',
  thinking: 'Denkt nach…',
  queued: 'Wartet auf einen freien Platz…',
  queuedPosition: 'Wartet in der Warteschlange: Position {position}',
  queuedEta: 'etwa {seconds} s',
  answerDone: 'Antwort fertig.',
  emptyTitle: 'Wie kann ich helfen?',
  emptyHint: 'Alles läuft auf den Servern Ihrer Hochschule. Ihre Chats sehen nur Sie.',
  keyboardHint: 'Enter sendet · Umschalt+Enter neue Zeile · Esc stoppt',
  chatNotFound: 'Diesen Chat gibt es nicht, oder er gehört jemand anderem.',
  backToChats: 'Neuen Chat beginnen',
  account: 'Konto',
  changePassword: 'Passwort ändern',
  currentPassword: 'Aktuelles Passwort',
  newPassword: 'Neues Passwort',
  passwordChanged: 'Passwort geändert. Ihre anderen Sitzungen wurden abgemeldet.',
  roles: 'Rollen',
  usage: 'Ihre Nutzung',
  budgetDay: 'Heute',
  budgetWeek: 'Diese Woche',
  budgetTerm: 'Dieses Semester',
  budgetResets: 'zurückgesetzt {date}',
  tokensOf: '{used} von {limit} Tokens',
  noBudgets: 'Ihre Rolle hat kein Token-Budget.',
  apiKeys: 'API-Schlüssel',
  apiKeysIntro: 'Nutzen Sie Flexi aus Skripten und Werkzeugen mit einem OpenAI- oder Ollama-kompatiblen Client. Basis-URL: {url}',
  keyName: 'Name',
  keyExpires: 'Läuft ab nach (Tage, optional)',
  createKey: 'Schlüssel erstellen',
  newKeyShown: 'Ihr neuer Schlüssel. Kopieren Sie ihn jetzt: Er wird nicht noch einmal angezeigt.',
  revoke: 'Widerrufen',
  revoked: 'widerrufen',
  confirmRevoke: 'Den Schlüssel „{name}“ widerrufen? Programme, die ihn nutzen, funktionieren dann nicht mehr.',
  noKeys: 'Noch keine API-Schlüssel.',
  created: 'Erstellt',
  lastUsed: 'Zuletzt benutzt',
  never: 'nie',
  yourData: 'Ihre Daten',
  yourDataIntro: 'Laden Sie alle Ihre Chats herunter oder löschen Sie sie.',
  exportAllJson: 'Alle Chats herunterladen (JSON)',
  exportAllMarkdown: 'Alle Chats herunterladen (Markdown)',
  deleteAll: 'Alle meine Chats löschen',
  confirmDeleteAll: 'Alle Ihre Chats löschen? Das kann nicht rückgängig gemacht werden.',
  deletedChats: '{count} Chats gelöscht.',
  preferences: 'Einstellungen',
  viewAgreement: 'Nutzungsvereinbarung anzeigen',
  adminUsers: 'Benutzer',
  adminKeys: 'Schlüssel',
  adminNodes: 'Knoten und Modelle',
  adminUsage: 'Nutzung',
  search: 'Suchen',
  addUser: 'Benutzer anlegen',
  initialPassword: 'Passwort (mind. 8 Zeichen)',
  setPassword: 'Passwort setzen',
  setPasswordFor: 'Neues Passwort für {email}',
  passwordSetFor: 'Passwort für {email} gesetzt; die Sitzungen wurden beendet.',
  displayName: 'Name',
  status: 'Status',
  active: 'aktiv',
  disabled: 'gesperrt',
  disable: 'Sperren',
  enable: 'Entsperren',
  changeRoles: 'Rollen (durch Komma getrennt)',
  lastLogin: 'Letzte Anmeldung',
  owner: 'Inhaber',
  operatorKey: 'Betrieb',
  healthy: 'bereit',
  unhealthy: 'gestört',
  draining: 'wird geleert',
  inFlight: 'laufend',
  slots: 'Plätze',
  slot: 'Platz',
  resident: 'geladen',
  preloading: 'wird geladen',
  limitLearning: 'lernt',
  limitSteady: 'gelernt',
  queue: 'Warteschlange',
  waiting: 'wartend',
  node: 'Knoten',
  models: 'Modelle',
  refreshEvery: 'Aktualisiert alle {seconds} s',
  tokensPerDay: 'Tokens pro Tag',
  day: 'Tag',
  tokensPerModel: 'Tokens pro Modell',
  requests: 'Anfragen',
  tokens: 'Tokens',
  errors: 'Fehler',
  period: 'Zeitraum',
  last7: 'Letzte 7 Tage',
  last30: 'Letzte 30 Tage',
  last90: 'Letzte 90 Tage',
  noUsage: 'Keine Nutzung in diesem Zeitraum.',
  notAdmin: 'Für diese Seite brauchen Sie eine Administratorrolle.',
  genericError: 'Etwas ist schiefgegangen: {message}',
  retry: 'Erneut versuchen',
};

export type Language = 'en' | 'de';
const DICTIONARIES: Record<Language, Dictionary> = { en, de };
const STORAGE_KEY = 'flexi.lang';

function initialLanguage(): Language {
  const stored = readSetting(STORAGE_KEY);
  if (stored === 'en' || stored === 'de') return stored;
  for (const tag of navigator.languages ?? [navigator.language]) {
    if (/^de\b/i.test(tag)) return 'de';
    if (/^en\b/i.test(tag)) return 'en';
  }
  return 'en';
}

let language: Language = initialLanguage();
const listeners = new Set<() => void>();
document.documentElement.lang = language;

export function getLanguage(): Language {
  return language;
}

export function setLanguage(next: Language): void {
  language = next;
  writeSetting(STORAGE_KEY, next);
  document.documentElement.lang = next;
  for (const listener of listeners) listener();
}

export function t(key: MessageKey, vars: Record<string, string | number> = {}): string {
  const template = DICTIONARIES[language][key] ?? en[key];
  return template.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? `{${name}}`));
}

/** Re-renders the calling component when the language changes. */
export function useLanguage(): Language {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = () => setTick((n) => n + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return language;
}

/** The locale of the UI language (not the browser's): a German UI shows German dates and numbers. */
export function locale(): string {
  return language === 'de' ? 'de-DE' : 'en-GB';
}

export function formatDate(iso: string, withTime = true): string {
  const date = new Date(iso);
  return new Intl.DateTimeFormat(locale(), withTime ? { dateStyle: 'medium', timeStyle: 'short' } : { dateStyle: 'medium' }).format(date);
}

/** A UTC day as a short label (`6 Dec` / `6. Dez.`), for chart axes. */
export function formatDay(date: Date, withYear = false): string {
  return new Intl.DateTimeFormat(locale(), { day: 'numeric', month: 'short', ...(withYear ? { year: 'numeric' } : {}), timeZone: 'UTC' }).format(date);
}

export function formatNumber(value: number): string {
  return new Intl.NumberFormat(locale()).format(value);
}
