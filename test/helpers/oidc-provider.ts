import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

export interface TestOidcUser {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  /** Further claims (groups, eduperson_affiliation, realm_access, …). */
  [claim: string]: unknown;
}

interface PendingCode {
  clientId: string;
  redirectUri: string;
  nonce?: string;
  codeChallenge?: string;
  user: TestOidcUser;
}

/**
 * A minimal OpenID provider for tests: discovery, JWKS, an authorize endpoint that logs in
 * `nextUser` at once and redirects back, and a token endpoint that checks the client secret,
 * the redirect URI and PKCE before issuing an RS256 ID token.
 */
export class TestOidcProvider {
  issuer = '';
  nextUser: TestOidcUser = { sub: 'nobody' };
  private server: Server | undefined;
  private readonly codes = new Map<string, PendingCode>();
  private privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'] | undefined;
  private publicJwk: JWK | undefined;

  constructor(readonly clientId: string, readonly clientSecret: string) {}

  async start(): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    this.privateKey = privateKey;
    this.publicJwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
    this.server = createServer((req, res) => {
      void this.handle(req.method ?? 'GET', new URL(req.url ?? '/', this.issuer), req, res).catch((error: unknown) => {
        res.writeHead(500).end(String(error));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.issuer = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private async handle(method: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (url.pathname === '/.well-known/openid-configuration') {
      return this.json(res, 200, {
        issuer: this.issuer,
        authorization_endpoint: `${this.issuer}/authorize`,
        token_endpoint: `${this.issuer}/token`,
        jwks_uri: `${this.issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      });
    }
    if (url.pathname === '/jwks') return this.json(res, 200, { keys: [this.publicJwk] });
    if (url.pathname === '/authorize' && method === 'GET') {
      const p = url.searchParams;
      if (p.get('client_id') !== this.clientId || p.get('response_type') !== 'code' || !p.get('redirect_uri')) {
        return this.json(res, 400, { error: 'invalid_request' });
      }
      const code = randomBytes(16).toString('hex');
      this.codes.set(code, {
        clientId: this.clientId, redirectUri: p.get('redirect_uri')!, nonce: p.get('nonce') ?? undefined,
        codeChallenge: p.get('code_challenge') ?? undefined, user: { ...this.nextUser },
      });
      const back = new URL(p.get('redirect_uri')!);
      back.searchParams.set('code', code);
      if (p.get('state')) back.searchParams.set('state', p.get('state')!);
      back.searchParams.set('iss', this.issuer);
      res.writeHead(302, { location: back.href }).end();
      return;
    }
    if (url.pathname === '/token' && method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const [id, secret] = basic
        ? Buffer.from(basic, 'base64').toString('utf8').split(':').map(decodeURIComponent)
        : [form.get('client_id'), form.get('client_secret')];
      if (id !== this.clientId || secret !== this.clientSecret) return this.json(res, 401, { error: 'invalid_client' });
      const pending = this.codes.get(form.get('code') ?? '');
      this.codes.delete(form.get('code') ?? '');
      if (!pending || form.get('grant_type') !== 'authorization_code' || form.get('redirect_uri') !== pending.redirectUri) {
        return this.json(res, 400, { error: 'invalid_grant' });
      }
      const verifier = form.get('code_verifier') ?? '';
      if (pending.codeChallenge && createHash('sha256').update(verifier).digest('base64url') !== pending.codeChallenge) {
        return this.json(res, 400, { error: 'invalid_grant', error_description: 'PKCE check failed' });
      }
      const idToken = await new SignJWT({ ...pending.user, nonce: pending.nonce })
        .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
        .setIssuer(this.issuer)
        .setAudience(this.clientId)
        .setSubject(pending.user.sub)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(this.privateKey!);
      return this.json(res, 200, { access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 300, id_token: idToken });
    }
    this.json(res, 404, { error: 'not_found' });
  }
}
