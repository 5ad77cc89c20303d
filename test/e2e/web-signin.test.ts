import { afterEach, describe, expect, it } from 'vitest';
import { hasChromium, openPage, signIn, startWebGateway, type WebGateway } from './web-gateway.js';

/**
 * Sign-in over plain HTTP on a host name (issue 13): Chromium treats http://127.0.0.1 and
 * http://localhost as secure contexts that keep Secure cookies, so these tests reach the gateway
 * as http://flexi.test (mapped to 127.0.0.1 by a host-resolver rule), like a fresh deployment.
 */
const PASSWORD = 'correct horse battery';
let gateway: WebGateway | undefined;

async function start(auth: string): Promise<WebGateway> {
  gateway = await startWebGateway({ auth, hostName: 'flexi.test' });
  await gateway.app.identity.admin.addUser('test', { email: 'alice@uni.example', roles: ['student'], password: PASSWORD });
  return gateway;
}

describe.skipIf(!hasChromium)('sign-in over plain HTTP on a host name', { timeout: 120_000 }, () => {
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
  });

  it('signs in with the default auth.cookie_secure (auto): no Secure cookie over http://', async () => {
    const { page, errors } = await openPage(await start(''));
    await signIn(page, 'alice@uni.example', PASSWORD);
    await page.getByRole('heading', { name: 'User agreement' }).waitFor({ timeout: 15_000 });
    const session = (await page.context().cookies()).find((c) => c.name === 'flexi_session');
    expect(session?.secure).toBe(false);
    expect(errors).toEqual([]);
  });

  it('says why, instead of spinning on "Signing in…", when the browser dropped a Secure cookie', async () => {
    const { page } = await openPage(await start('auth:\n  cookie_secure: true\n'));
    await signIn(page, 'alice@uni.example', PASSWORD);
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: 15_000 });
    expect(await alert.textContent()).toContain('did not keep the session cookie');
    expect(await alert.textContent()).toContain('auth.cookie_secure');
    expect(await page.getByRole('button', { name: 'Sign in', exact: true }).isEnabled()).toBe(true);
  });
});

if (!hasChromium) {
  it.skip('web UI end-to-end tests need Debian\'s Chromium at /usr/bin/chromium (apt-get install chromium)', () => undefined);
}
