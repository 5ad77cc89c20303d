// Light, dark, or the system's choice. CSS follows prefers-color-scheme unless data-theme is set.
export type ThemeChoice = 'system' | 'light' | 'dark';
const STORAGE_KEY = 'flexi.theme';

export function getTheme(): ThemeChoice {
  const stored = localStorage.getItem(STORAGE_KEY);
  return stored === 'light' || stored === 'dark' ? stored : 'system';
}

export function applyTheme(choice: ThemeChoice = getTheme()): void {
  if (choice === 'system') {
    delete document.documentElement.dataset.theme;
    localStorage.removeItem(STORAGE_KEY);
  } else {
    document.documentElement.dataset.theme = choice;
    localStorage.setItem(STORAGE_KEY, choice);
  }
}
