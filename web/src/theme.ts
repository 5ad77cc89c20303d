// Light, dark, or the system's choice. CSS follows prefers-color-scheme unless data-theme is set.
import { readSetting, writeSetting } from './storage';

export type ThemeChoice = 'system' | 'light' | 'dark';
const STORAGE_KEY = 'flexi.theme';

export function getTheme(): ThemeChoice {
  const stored = readSetting(STORAGE_KEY);
  return stored === 'light' || stored === 'dark' ? stored : 'system';
}

export function applyTheme(choice: ThemeChoice = getTheme()): void {
  if (choice === 'system') {
    delete document.documentElement.dataset.theme;
    writeSetting(STORAGE_KEY, null);
  } else {
    document.documentElement.dataset.theme = choice;
    writeSetting(STORAGE_KEY, choice);
  }
}
