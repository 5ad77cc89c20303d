// Browser settings (theme, language, last model) in localStorage — or in memory where the browser
// denies storage: inside an LMS frame with third-party cookies blocked, merely reading
// `window.localStorage` throws, and the app must still start (docs/lti.md).
const memory = new Map<string, string>();

function storage(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined;
  }
}

export function readSetting(key: string): string | null {
  try {
    return storage()?.getItem(key) ?? memory.get(key) ?? null;
  } catch {
    return memory.get(key) ?? null;
  }
}

/** `null` removes the setting. */
export function writeSetting(key: string, value: string | null): void {
  if (value === null) memory.delete(key);
  else memory.set(key, value);
  try {
    if (value === null) storage()?.removeItem(key);
    else storage()?.setItem(key, value);
  } catch {
    // Kept in memory only (storage denied or full).
  }
}
