import { useState } from 'preact/hooks';
import { getLanguage, setLanguage, t, type Language } from '../i18n';
import { applyTheme, getTheme, type ThemeChoice } from '../theme';

/** Language and theme pickers (sign-in page, sidebar, settings). */
export function PreferenceControls({ compact = false }: { compact?: boolean }) {
  const [theme, setTheme] = useState<ThemeChoice>(getTheme());
  return (
    <div class={`preferences${compact ? ' compact' : ''}`}>
      <label class="field inline">
        <span>{t('language')}</span>
        <select value={getLanguage()} onChange={(e) => setLanguage(e.currentTarget.value as Language)}>
          <option value="de">Deutsch</option>
          <option value="en">English</option>
        </select>
      </label>
      <label class="field inline">
        <span>{t('theme')}</span>
        <select value={theme} onChange={(e) => {
          const next = e.currentTarget.value as ThemeChoice;
          applyTheme(next);
          setTheme(next);
        }}>
          <option value="system">{t('themeSystem')}</option>
          <option value="light">{t('themeLight')}</option>
          <option value="dark">{t('themeDark')}</option>
        </select>
      </label>
    </div>
  );
}
