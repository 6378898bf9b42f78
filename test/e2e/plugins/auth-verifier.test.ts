import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, silentLogger, startGateway, type RunningGateway } from '../../../runtime/src/index.ts';
import { nowSec } from '../../../plugins/auth/test-support.ts';

// The auth built-in delegating to a user plugin's `verifier` hook: the example introspection
// verifier calls a fake RFC 7662 endpoint through its allow-listed ctx.fetch; auth applies its
// role checks to the answer, caches it, and hands the claims to later user plugins and headers.
const verifierPlugin = path.resolve(import.meta.dirname, '../../../examples/plugins/introspect-verifier.ts');
const addHeaderPlugin = path.resolve(import.meta.dirname, '../../../examples/plugins/add-header.ts');
let dir: string;
let upstream: http.Server;
let idp: http.Server;
let running: RunningGateway;
let introspections = 0;
const clientAuth = `Basic ${Buffer.from('gateway:s3cret').toString('base64')}`;

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

const claimsEcho = `import { definePlugin } from '@isogate/sdk';
export default definePlugin({
  name: 'claims-echo',
  version: '1.0.0',
  onRequest(req, ctx) { req.headers.set('x-seen-sub', String(ctx.claims?.['sub'] ?? 'none')); },
});
`;

before(async () => {
  upstream = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ url: req.url, user: req.headers['x-user-id'] ?? null, seen: req.headers['x-seen-sub'] ?? null }));
  });
  idp = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      introspections++;
      if (req.headers.authorization !== clientAuth) return void res.writeHead(401).end();
      const token = new URLSearchParams(body).get('token');
      if (token === 'slow') return; // never answers: the plugin's wall-clock limit fires
      if (token === 'idp-error') return void res.writeHead(500).end();
      if (token === 'idp-crash') return void req.socket.destroy(); // ctx.fetch fails
      const answers: Record<string, object> = {
        good: { active: true, sub: 'user-42', scope: 'orders:read profile', exp: nowSec() + 300, client_id: 'web' },
        'no-scope': { active: true, sub: 'user-7', scope: 'profile', exp: nowSec() + 300 },
        expired: { active: true, sub: 'user-8', scope: 'orders:read', exp: nowSec() - 300 },
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answers[token ?? ''] ?? { active: false }));
    });
  });
  const upstreamUrl = await listen(upstream);
  const idpUrl = await listen(idp);
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-auth-verifier-'));
  await fs.writeFile(path.join(dir, 'claims-echo.ts'), claimsEcho);
  await fs.writeFile(
    path.join(dir, 'gateway.config.ts'),
    `export default {
  plugins: {
    introspect: {
      use: ${JSON.stringify(verifierPlugin)},
      options: { introspectionUrl: '${idpUrl}/introspect', clientId: 'gateway', clientSecret: 's3cret' },
      fetch: { allow: ['${idpUrl}'] },
      limits: { wallMs: 400 },
    },
    auth: { use: 'auth', options: { verifier: 'introspect', roles: { claim: 'scope', required: ['orders:read'] }, propagate: [['sub', 'X-User-Id']] } },
    echo: { use: './claims-echo.ts' },
  },
  routes: [
    { path: '/orders/*', upstream: '${upstreamUrl}', middleware: ['auth', 'echo'] },
    { path: '/mine', upstream: '${upstreamUrl}/users/{claims.sub}/orders', middleware: ['auth'] },
  ],
};
`,
  );
  running = await startGateway({ configPath: path.join(dir, 'gateway.config.ts'), port: 0, logger: silentLogger() });
});

after(async () => {
  await running?.stop();
  for (const s of [upstream, idp]) {
    s?.closeAllConnections();
    s?.close();
  }
  await fs.rm(dir, { recursive: true, force: true });
});

const get = (p: string, token?: string) => fetch(`${running.url}${p}`, { headers: token ? { authorization: `Bearer ${token}`, 'x-user-id': 'spoofed' } : {} });

describe('auth with a delegated verifier (token introspection through ctx.fetch)', () => {
  it('accepts an active token: claims reach headers, later user plugins and the URL template', async () => {
    const before = introspections;
    const res = await get('/orders/1', 'good');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { url: '/orders/1', user: 'user-42', seen: 'user-42' });
    const mine = await get('/mine', 'good');
    assert.equal(((await mine.json()) as { url: string }).url, '/users/user-42/orders');
    assert.equal(introspections - before, 1, 'the second request was served from the verified-token cache');
  });

  it('refuses an inactive token with 401, a token without the role with 403, an expired answer with 401', async () => {
    const inactive = await get('/orders/1', 'revoked');
    assert.equal(inactive.status, 401);
    assert.match(inactive.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    await inactive.body?.cancel();
    const noScope = await get('/orders/1', 'no-scope');
    assert.equal(noScope.status, 403);
    await noScope.body?.cancel();
    const expired = await get('/orders/1', 'expired');
    assert.equal(expired.status, 401);
    await expired.body?.cancel();
    const none = await get('/orders/1');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="isogate"');
    await none.body?.cancel();
  });

  it('answers 503, not 401, when the identity provider cannot give a verdict (5xx, or the connection fails)', async () => {
    for (const token of ['idp-error', 'idp-crash']) {
      const res = await get('/orders/1', token);
      assert.equal(res.status, 503, token);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ISOGATE_ERR_AUTH_UNAVAILABLE');
    }
  });

  it('answers 503 when the verifier plugin fails (its wall-clock limit)', async () => {
    const res = await get('/orders/1', 'slow');
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ISOGATE_ERR_AUTH_UNAVAILABLE');
  });
});

describe('auth verifier configuration errors', () => {
  async function load(plugins: string): Promise<unknown> {
    const file = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.config.ts`);
    await fs.writeFile(file, `export default { plugins: { ${plugins} }, routes: [{ path: '/*', upstream: 'http://127.0.0.1:1', middleware: ['auth'] }] };\n`);
    try {
      const r = await startGateway({ configPath: file, port: 0, logger: silentLogger() });
      await r.stop();
      return null;
    } catch (err) {
      return err;
    }
  }

  it('names plugins.<instance>.options.verifier when the instance does not exist', async () => {
    const err = await load(`auth: { use: 'auth', options: { verifier: 'introspect' } }`);
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /plugins\.auth\.options\.verifier: no user plugin instance named "introspect"/);
  });

  it('names plugins.<instance>.options.verifier when the plugin has no verifier hook', async () => {
    const err = await load(`tag: { use: ${JSON.stringify(addHeaderPlugin)}, options: { name: 'x-a', value: 'b' } }, auth: { use: 'auth', options: { verifier: 'tag' } }`);
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /plugins\.auth\.options\.verifier: plugin instance "tag" has no verifier hook/);
  });
});
