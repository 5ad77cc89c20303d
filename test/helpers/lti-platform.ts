import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

const LTI = 'https://purl.imsglobal.org/spec/lti/claim/';
export const ROLE = {
  instructor: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor',
  learner: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner',
  institutionAdmin: 'http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator',
} as const;

/** A person of the test course (launches and the roster). */
export interface TestLtiPerson {
  sub: string;
  roles: string[];
  name?: string;
  email?: string;
  /** Roster status (default Active). */
  status?: 'Active' | 'Inactive' | 'Deleted';
}

export interface LaunchOptions {
  person?: TestLtiPerson;
  messageType?: string;
  custom?: Record<string, string>;
  /** Claims to set (undefined deletes one). */
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
  /** Sign with another key (same kid unless the header says otherwise). */
  signWith?: KeyPair['privateKey'];
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An HTML page whose form posts `fields` to `action` at once, as a platform's pages do. */
export function autoPostForm(action: string, fields: Record<string, string>): string {
  const inputs = Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`).join('');
  return `<!doctype html><html><body><form id="f" method="post" action="${escapeHtml(action)}">${inputs}<button>Go</button></form>`
    + '<script>document.getElementById("f").submit()</script></body></html>';
}

/**
 * A test LTI 1.3 platform shaped like Moodle: its own RS256 key and JWKS, an OIDC authorization
 * endpoint that answers the tool's login redirect with an auto-posting form carrying a signed
 * id_token, a token endpoint (client-credentials grant with a JWT assertion checked against the
 * tool's JWKS), an NRPS roster with paging, a deep-linking return URL that records what it got,
 * and the OpenID configuration + registration endpoints of LTI Dynamic Registration.
 */
export class TestLtiPlatform {
  url = '';
  readonly clientId = 'flexi-client-1';
  readonly deploymentId = '1';
  readonly contextId = 'course-42';
  kid = 'platform-key-1';
  keys!: KeyPair;
  /** Who the next browser launch (through /auth) is for, and what it carries. */
  nextLaunch: LaunchOptions = {};
  /** The roster NRPS serves (two per page). */
  roster: TestLtiPerson[] = [];
  jwksFetches = 0;
  tokenRequests = 0;
  /** Deep-linking responses the platform received (verified against the tool's JWKS). */
  readonly deepLinkResponses: JWTPayload[] = [];
  /** Registrations the tool posted, with the bearer token it sent. */
  readonly registrations: { body: Record<string, unknown>; authorization: string | undefined }[] = [];
  /** Where the tool's JWKS is (for the token endpoint and deep-linking checks). */
  toolJwksUrl = '';
  jwksDown = false;
  /** Flexi's base URL, for the platform's own pages that start a launch in a browser. */
  toolUrl = '';
  private server: Server | undefined;
  private readonly tokens = new Set<string>();

  get issuer(): string {
    return this.url;
  }

  get authUrl(): string {
    return `${this.url}/mod/lti/auth.php`;
  }

  get jwksUrl(): string {
    return `${this.url}/mod/lti/certs.php`;
  }

  get tokenUrl(): string {
    return `${this.url}/mod/lti/token.php`;
  }

  get membershipsUrl(): string {
    return `${this.url}/mod/lti/services.php/${this.contextId}/bindings/1/memberships`;
  }

  get deepLinkReturnUrl(): string {
    return `${this.url}/mod/lti/contentitem_return.php`;
  }

  async start(): Promise<void> {
    this.keys = await generateKeyPair('RS256', { extractable: true });
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** A new platform key (the old one disappears from the JWKS, as after a platform key rotation). */
  async rotateKey(): Promise<void> {
    this.keys = await generateKeyPair('RS256', { extractable: true });
    this.kid = `platform-key-${Date.now()}`;
  }

  /** The `flexi lti platforms add` arguments of this platform. */
  registration(): { issuer: string; clientId: string; authUrl: string; jwksUrl: string; tokenUrl: string; deploymentIds: string[] } {
    return { issuer: this.issuer, clientId: this.clientId, authUrl: this.authUrl, jwksUrl: this.jwksUrl, tokenUrl: this.tokenUrl, deploymentIds: [this.deploymentId] };
  }

  /** The claims of a Moodle-like launch for `nonce`. */
  claims(nonce: string, options: LaunchOptions = {}): Record<string, unknown> {
    const person = options.person ?? { sub: '7', roles: [ROLE.learner], name: 'Lea Lernt', email: 'lea@uni-example.de' };
    const nowS = Math.floor(Date.now() / 1000);
    const messageType = options.messageType ?? 'LtiResourceLinkRequest';
    const claims: Record<string, unknown> = {
      iss: this.issuer, aud: this.clientId, sub: person.sub, iat: nowS, exp: nowS + 60, nonce,
      name: person.name, email: person.email,
      [`${LTI}message_type`]: messageType,
      [`${LTI}version`]: '1.3.0',
      [`${LTI}deployment_id`]: this.deploymentId,
      [`${LTI}target_link_uri`]: 'https://flexi.example/lti/launch',
      [`${LTI}resource_link`]: { id: 'link-1', title: 'Ask the course bot' },
      [`${LTI}context`]: { id: this.contextId, label: 'STAT1', title: 'Statistics 1', type: ['http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering'] },
      [`${LTI}roles`]: person.roles,
      [`${LTI}tool_platform`]: { family_code: 'moodle', version: '2024100700', guid: 'moodle.uni-example.de', name: 'Moodle' },
      [`${LTI}launch_presentation`]: { locale: 'en', document_target: 'iframe', return_url: `${this.url}/mod/lti/return.php` },
      'https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice': { context_memberships_url: this.membershipsUrl, service_versions: ['1.0', '2.0'] },
    };
    if (options.custom) claims[`${LTI}custom`] = options.custom;
    if (messageType === 'LtiDeepLinkingRequest') {
      delete claims[`${LTI}resource_link`];
      claims['https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings'] = {
        deep_link_return_url: this.deepLinkReturnUrl, accept_types: ['ltiResourceLink'], accept_presentation_document_targets: ['iframe', 'window'], data: 'moodle-data-123',
      };
    }
    for (const [name, value] of Object.entries(options.claims ?? {})) {
      if (value === undefined) delete claims[name];
      else claims[name] = value;
    }
    return claims;
  }

  /** A signed id_token for `nonce`. */
  async idToken(nonce: string, options: LaunchOptions = {}): Promise<string> {
    const header = { alg: 'RS256', kid: this.kid, typ: 'JWT', ...options.header };
    return new SignJWT(this.claims(nonce, options) as JWTPayload).setProtectedHeader(header as { alg: string }).sign(options.signWith ?? this.keys.privateKey);
  }

  /**
   * A whole launch as a browser makes it: the platform's login initiation at `toolUrl`, the
   * tool's redirect to /auth here, the auto-posted id_token back to the tool (with the cookie the
   * tool set). Returns the tool's answer to the launch.
   */
  async launchThrough(toolUrl: string, options: LaunchOptions = {}): Promise<Response> {
    this.nextLaunch = options;
    const login = new URL(`${toolUrl}/lti/login`);
    for (const [k, v] of Object.entries({ iss: this.issuer, login_hint: options.person?.sub ?? '7', target_link_uri: `${toolUrl}/lti/launch`, lti_message_hint: 'hint', client_id: this.clientId })) {
      login.searchParams.set(k, v);
    }
    const started = await fetch(login, { redirect: 'manual' });
    const cookie = started.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ');
    const auth = await fetch(started.headers.get('location')!);
    const html = await auth.text();
    const fields: Record<string, string> = {};
    for (const match of html.matchAll(/name="([^"]*)" value="([^"]*)"/g)) fields[match[1]!] = match[2]!.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
    return fetch(`${toolUrl}/lti/launch`, { method: 'POST', redirect: 'manual', body: new URLSearchParams(fields), headers: { cookie } });
  }

  private async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: [{ ...(await exportJWK(this.keys.publicKey)), kid: this.kid, alg: 'RS256', use: 'sig' }] };
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.url);
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) =>
      response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
    const html = (body: string) => response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(body);
    switch (url.pathname) {
      case '/course/view.php':
        // A course page showing the activity in a frame, as Moodle's default "embed" does.
        return void html('<!doctype html><title>Statistics 1</title><h1>Statistics 1</h1>'
          + '<iframe id="lti-frame" title="Flexi" src="/mod/lti/launch.php" style="width:1100px;height:700px"></iframe>');
      case '/mod/lti/launch.php':
        // Moodle's launch page: posts the third-party-initiated login to the tool.
        return void html(autoPostForm(`${this.toolUrl}/lti/login`, {
          iss: this.issuer, login_hint: this.nextLaunch.person?.sub ?? '7', target_link_uri: `${this.toolUrl}/lti/launch`,
          lti_message_hint: '{"cmid":3,"launchid":"x"}', client_id: this.clientId, lti_deployment_id: this.deploymentId,
        }));
      case '/mod/lti/certs.php': {
        this.jwksFetches += 1;
        if (this.jwksDown) return void json(503, { error: 'down' });
        return void json(200, await this.jwks());
      }
      case '/mod/lti/auth.php': {
        // Moodle checks the request, then posts the id_token back to the registered redirect URI.
        const state = url.searchParams.get('state') ?? '';
        const nonce = url.searchParams.get('nonce') ?? '';
        const redirectUri = url.searchParams.get('redirect_uri') ?? '';
        const idToken = await this.idToken(nonce, this.nextLaunch);
        return void html(autoPostForm(redirectUri, { id_token: idToken, state }));
      }
      case '/mod/lti/token.php': {
        this.tokenRequests += 1;
        const form = new URLSearchParams(await readBody(request));
        try {
          const keySet = createRemoteJWKSet(new URL(this.toolJwksUrl));
          await jwtVerify(form.get('client_assertion') ?? '', keySet, { issuer: this.clientId, subject: this.clientId, audience: this.tokenUrl, algorithms: ['RS256'] });
        } catch (error) {
          return void json(401, { error: 'invalid_client', error_description: (error as Error).message });
        }
        if (form.get('grant_type') !== 'client_credentials' || !form.get('scope')?.includes('contextmembership.readonly')) return void json(400, { error: 'invalid_request' });
        const token = `tok-${Math.random().toString(36).slice(2)}`;
        this.tokens.add(token);
        return void json(200, { access_token: token, token_type: 'Bearer', expires_in: 3600, scope: form.get('scope') });
      }
      case '/mod/lti/contentitem_return.php': {
        const form = new URLSearchParams(await readBody(request));
        const keySet = createRemoteJWKSet(new URL(this.toolJwksUrl));
        const { payload } = await jwtVerify(form.get('JWT') ?? '', keySet, { issuer: this.clientId, audience: this.issuer, algorithms: ['RS256'] });
        this.deepLinkResponses.push(payload);
        return void html('<!doctype html><title>Moodle</title><h1 id="received">Content received</h1>');
      }
      case '/mod/lti/openid-configuration.php':
        return void json(200, {
          issuer: this.issuer, authorization_endpoint: this.authUrl, token_endpoint: this.tokenUrl, jwks_uri: this.jwksUrl,
          registration_endpoint: `${this.url}/mod/lti/openid-registration.php`,
          scopes_supported: ['openid', 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly'],
          response_types_supported: ['id_token'], id_token_signing_alg_values_supported: ['RS256'],
          'https://purl.imsglobal.org/spec/lti-platform-configuration': { product_family_code: 'moodle', version: '4.5', messages_supported: [{ type: 'LtiResourceLinkRequest' }, { type: 'LtiDeepLinkingRequest' }] },
        });
      case '/mod/lti/openid-registration.php': {
        const body = JSON.parse(await readBody(request)) as Record<string, unknown>;
        this.registrations.push({ body, authorization: request.headers.authorization });
        if (request.headers.authorization !== 'Bearer reg-token-1') return void json(401, { error: 'bad registration token' });
        return void json(200, { ...body, client_id: 'dyn-client-9', 'https://purl.imsglobal.org/spec/lti-tool-configuration': { deployment_id: '5' } });
      }
      default:
        if (url.pathname === `/mod/lti/services.php/${this.contextId}/bindings/1/memberships`) return this.memberships(request, url, response);
        response.writeHead(404).end('not found');
    }
  }

  private memberships(request: IncomingMessage, url: URL, response: ServerResponse): void {
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (!token || !this.tokens.has(token)) return void response.writeHead(401).end('no token');
    if (request.headers.accept !== 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json') return void response.writeHead(406).end('accept');
    const page = Number(url.searchParams.get('page') ?? '0');
    const slice = this.roster.slice(page * 2, page * 2 + 2);
    const headers: Record<string, string> = { 'content-type': 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json' };
    if ((page + 1) * 2 < this.roster.length) headers.link = `<${this.membershipsUrl}?page=${page + 1}>; rel="next"`;
    response.writeHead(200, headers).end(JSON.stringify({
      id: this.membershipsUrl,
      context: { id: this.contextId, label: 'STAT1', title: 'Statistics 1' },
      members: slice.map((p) => ({ user_id: p.sub, roles: p.roles, status: p.status ?? 'Active', name: p.name, email: p.email })),
    }));
  }
}
