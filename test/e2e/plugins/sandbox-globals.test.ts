import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger, startGateway, type RunningGateway } from '../../../runtime/src/index.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

// Through real sockets: plugins that need the sandbox's globals (WebCrypto HMAC, TextEncoder,
// URL, console), loaded from a config file the way `isogate start` loads them.
const examples = path.resolve(import.meta.dirname, '../../../examples/plugins');
const SECRET = 'whsec_0123456789';
let dir: string;
let upstream: Upstream;
let running: RunningGateway;
const logLines: string[] = [];

const sign = (body: string | Buffer) => `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;

before(async () => {
  upstream = await startUpstream();
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-sandbox-'));
  const use = (file: string) => JSON.stringify(path.join(examples, file));
  await fs.writeFile(
    path.join(dir, 'gateway.config.ts'),
    `import { defineConfig, usePlugin } from '@isogate/sdk';
export default defineConfig({
  plugins: {
    signed: usePlugin<typeof import(${use('webhook-signature.ts')})>(${use('webhook-signature.ts')}, { secret: ${JSON.stringify(SECRET)} }),
    login: usePlugin<typeof import(${use('login-redirect.ts')})>(${use('login-redirect.ts')}, { origin: 'https://login.example.com', login: '/auth?client=gw' }),
  },
  routes: [
    { path: '/hooks/*', methods: ['POST'], upstream: ${JSON.stringify(upstream.url)}, middleware: ['signed'] },
    { path: '/app/*', upstream: ${JSON.stringify(upstream.url)}, middleware: ['login'] },
  ],
});
`,
  );
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => logLines.push(line) } });
  running = await startGateway({ configPath: path.join(dir, 'gateway.config.ts'), port: 0, logger });
});

after(async () => {
  await running?.stop();
  await upstream?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('plugins using the sandbox globals, end to end', () => {
  it('a webhook with a good HMAC signature reaches the upstream with its exact body', async () => {
    const body = JSON.stringify({ action: 'opened', number: 7, title: 'ünïcode ✓' });
    const before = upstream.requests.length;
    const res = await fetch(`${running.url}/hooks/github`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(body) }, body });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { body: string }).body, body, 'the upstream echoes the body it got');
    assert.equal(upstream.requests.length, before + 1);
  });

  it('a bad, missing or malformed signature gets the plugin’s own 401 and never reaches the upstream', async () => {
    const body = '{"action":"opened"}';
    const before = upstream.requests.length;
    for (const signature of [sign('{"action":"closed"}'), sign(body).slice(0, -2), 'sha256=zz', '', `sha1=${createHmac('sha1', SECRET).update(body).digest('hex')}`]) {
      const res = await fetch(`${running.url}/hooks/github`, { method: 'POST', headers: signature ? { 'x-hub-signature-256': signature } : {}, body });
      assert.equal(res.status, 401, signature);
      assert.equal(res.headers.get('www-authenticate'), 'HMAC-SHA256');
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'BAD_SIGNATURE');
    }
    assert.equal(upstream.requests.length, before);
    // Its console.warn reached the gateway's log, with the plugin's own file and line.
    const warned = logLines.map((l) => JSON.parse(l) as { level: number; msg: string; source?: string; plugin?: string }).find((e) => e.msg.startsWith('webhook signature mismatch on /hooks/github from '));
    assert.ok(warned, 'the console line was logged');
    assert.equal(warned.level, 40);
    const line = (await fs.readFile(path.join(examples, 'webhook-signature.ts'), 'utf8')).split('\n').findIndex((l) => l.includes('console.warn(')) + 1;
    assert.match(warned.source ?? '', new RegExp(`examples/plugins/webhook-signature\\.ts:${line}:\\d+$`));
  });

  it('a browser without a session is redirected to a login URL built with URL (next encoded, query kept)', async () => {
    const res = await fetch(`${running.url}/app/orders/7?page=2&sort=a b`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.origin, 'https://login.example.com');
    assert.equal(location.pathname, '/auth');
    assert.equal(location.searchParams.get('client'), 'gw');
    assert.equal(location.searchParams.get('next'), '/app/orders/7?page=2&sort=a%20b');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    await res.body?.cancel();
    const signedIn = await fetch(`${running.url}/app/orders/7`, { headers: { cookie: 'theme=dark; session=abc' } });
    assert.equal(signedIn.status, 200);
    await signedIn.body?.cancel();
  });
});
