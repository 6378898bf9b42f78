import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger, startGateway, type RunningGateway } from '../../../runtime/src/index.ts';

// ctx.fetch end to end: a plugin calls a token-introspection endpoint through the host, only at
// the origins its config allows.
const introspectPlugin = path.resolve(import.meta.dirname, '../../../examples/plugins/introspect.ts');
let dir: string;
let upstream: http.Server;
let idp: http.Server;
let running: RunningGateway;
let introspections = 0;

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

before(async () => {
  upstream = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ user: req.headers['x-user-id'] ?? null, auth: req.headers['authorization'] ?? null }));
  });
  idp = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      introspections++;
      const token = new URLSearchParams(body).get('token');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(token === 'good' ? { active: true, sub: 'user-42' } : { active: false }));
    });
  });
  const upstreamUrl = await listen(upstream);
  const idpUrl = await listen(idp);
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-fetch-'));
  await fs.writeFile(
    path.join(dir, 'gateway.config.ts'),
    `export default {
  plugins: {
    allowed: { use: ${JSON.stringify(introspectPlugin)}, options: { introspectionUrl: '${idpUrl}/introspect' }, fetch: { allow: ['${idpUrl}'] } },
    elsewhere: { use: ${JSON.stringify(introspectPlugin)}, options: { introspectionUrl: '${idpUrl}/introspect' }, fetch: { allow: ['http://127.0.0.1:1'] } },
    none: { use: ${JSON.stringify(introspectPlugin)}, options: { introspectionUrl: '${idpUrl}/introspect' } },
  },
  routes: [
    { path: '/ok/*', upstream: '${upstreamUrl}', middleware: ['allowed'] },
    { path: '/elsewhere/*', upstream: '${upstreamUrl}', middleware: ['elsewhere'] },
    { path: '/none/*', upstream: '${upstreamUrl}', middleware: ['none'] },
  ],
};
`,
  );
  running = await startGateway({ configPath: path.join(dir, 'gateway.config.ts'), port: 0, logger: silentLogger() });
});

after(async () => {
  await running?.stop();
  for (const s of [upstream, idp]) {
    s.closeAllConnections();
    s.close();
  }
  await fs.rm(dir, { recursive: true, force: true });
});

const get = (p: string, token?: string) => fetch(`${running.url}${p}`, { headers: token ? { authorization: `Bearer ${token}`, 'x-user-id': 'spoofed' } : {} });

describe('ctx.fetch (allow-listed host fetch for plugins)', () => {
  it('lets a plugin call an allowed origin and act on the answer', async () => {
    const res = await get('/ok/x', 'good');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { user: 'user-42', auth: null });
    const bad = await get('/ok/x', 'bad');
    assert.equal(bad.status, 401);
    await bad.body?.cancel();
    assert.equal(introspections, 2);
  });

  it('refuses an origin the config does not allow (fail-closed 500, nothing sent)', async () => {
    const before = introspections;
    const res = await get('/elsewhere/x', 'good');
    assert.equal(res.status, 500);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ISOGATE_ERR_PLUGIN_FAILED');
    assert.equal(introspections, before);
  });

  it('gives no ctx.fetch to a plugin whose config allows nothing', async () => {
    const res = await get('/none/x', 'good');
    assert.equal(res.status, 500);
    await res.body?.cancel();
  });
});
