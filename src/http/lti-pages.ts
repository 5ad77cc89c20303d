/*
 * The few HTML pages of the LTI tool: they appear inside the platform's frame or window before
 * the web UI, so they are plain server-rendered HTML. Scripts come only from /lti/assets/lti.js
 * (the CSP allows no inline script); every page works without it (a button does what it does).
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const STYLE = [
  'body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1d2433;line-height:1.5}',
  'h1{font-size:1.3rem}code{background:#eef1f6;padding:0 .25rem;border-radius:3px}',
  'button,.button{font:inherit;padding:.5rem 1rem;border-radius:6px;border:1px solid #2a5bd7;background:#2a5bd7;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}',
  'label{display:block;margin:.4rem 0}.muted{color:#5b6475}',
].join('');

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">`
    + `<title>${escapeHtml(title)} · Flexi</title><style>${STYLE}</style><script src="/lti/assets/lti.js" defer></script></head>`
    + `<body>${body}</body></html>`;
}

/** A refused launch: what failed, and what to do. */
export function errorPage(check: string, message: string): string {
  return page('Launch refused', `<h1>Flexi could not open this activity</h1><p>${escapeHtml(message)}</p>`
    + `<p class="muted">Failed check: <code>${escapeHtml(check)}</code>. Your administrator finds this attempt in Flexi's audit log `
    + `(action <code>lti.launch_refused</code>).</p>`);
}

/** Third-party cookies are blocked in the frame: run the same login at the top level instead. */
export function newWindowPage(loginUrl: string): string {
  return page('Open in a new window', '<h1>Open Flexi in a new window</h1>'
    + '<p>Your browser blocks cookies inside embedded frames, so Flexi cannot keep you signed in here.</p>'
    + `<p><a class="button" id="open-new-window" href="${escapeHtml(loginUrl)}" target="_blank" rel="noopener">Open in a new window</a></p>`
    + '<p class="muted">Or allow third-party cookies for this site, or ask the course\'s teacher to set the activity to open in a new window.</p>');
}

/** The deep-linking picker: one radio button per model the instructor may use. */
export function pickerPage(input: { ticket: string; models: readonly { id: string; description: string }[]; courseTitle?: string }): string {
  if (input.models.length === 0) {
    return page('No models', '<h1>No models to choose from</h1><p>Your Flexi roles allow no model yet; ask your administrator.</p>');
  }
  const options = input.models.map((m, i) => `<label><input type="radio" name="model" value="${escapeHtml(m.id)}"${i === 0 ? ' checked' : ''}> `
    + `<strong>${escapeHtml(m.id)}</strong>${m.description ? ` <span class="muted">${escapeHtml(m.description)}</span>` : ''}</label>`).join('');
  return page('Choose a model', `<h1>Add Flexi to ${escapeHtml(input.courseTitle ?? 'the course')}</h1>`
    + '<form method="post" action="/lti/deep-link">'
    + `<input type="hidden" name="ticket" value="${escapeHtml(input.ticket)}">`
    + `<fieldset><legend>Model or course bot the activity opens</legend>${options}</fieldset>`
    + '<label>Title in the course <input name="title" maxlength="200" placeholder="Flexi chat"></label>'
    + '<p><button type="submit" id="add-to-course">Add to course</button></p></form>');
}

/** Posts `fields` to `action` at once (the script), or on a click without it. */
export function autoPostPage(title: string, action: string, fields: Record<string, string>): string {
  const inputs = Object.entries(fields).map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`).join('');
  return page(title, `<form method="post" action="${escapeHtml(action)}" data-auto-submit>${inputs}`
    + `<p>${escapeHtml(title)}…</p><noscript><button type="submit">Continue</button></noscript></form>`);
}

/** Dynamic registration finished: the script tells the platform's window to close the dialog. */
export function registeredPage(platform: { name: string; issuer: string; clientId: string; deploymentIds: readonly string[] }): string {
  return page('Registered', `<h1>Flexi is registered with ${escapeHtml(platform.name)}</h1>`
    + `<p>Issuer <code>${escapeHtml(platform.issuer)}</code>, client id <code>${escapeHtml(platform.clientId)}</code>, `
    + `deployment <code>${escapeHtml(platform.deploymentIds.join(', '))}</code>.</p>`
    + '<p>In Moodle, activate the tool (it is listed as pending) and close this dialog.</p><div data-lti-close></div>');
}

/** The one script of these pages: submit auto-submit forms; close the registration dialog. */
export const LTI_SCRIPT = [
  '"use strict";',
  'document.querySelectorAll("form[data-auto-submit]").forEach(function (f) { f.submit(); });',
  'if (document.querySelector("[data-lti-close]")) {',
  '  var target = window.opener || window.parent;',
  '  if (target && target !== window) target.postMessage({ subject: "org.imsglobal.lti.close" }, "*");',
  '}',
].join('\n');
