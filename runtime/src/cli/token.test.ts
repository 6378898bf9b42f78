import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startUpstream, type Upstream } from '../../../test/helpers/upstream.ts';
import { loadConfigFile } from '../config/load-config.ts';
import { Gateway } from '../gateway.ts';
import { builtinPlugins } from '../plugins/builtins.ts';
import { createDevToken, parseTtl, TokenUsageError } from './token.ts';

const SECRET = 'dev-secret-for-the-token-command-tests-0123456789';
const cli = path.resolve(import.meta.dirname, '../../bin/isogate.mjs');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
let dir: string;
let upstream: Upstream;

async function writeConfig(name: string, plugins: string): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(
    file,
    `export default {
  plugins: { ${plugins} },
  routes: [{ path: '/*', upstream: '${upstream.url}', middleware: ['auth'] }],
};
`,
  );
  return file;
}

const defaults = { sub: 'dev-user', ttl: '1h', claim: [] as string[] };

async function statusWith(configFile: string, token: string): Promise<number> {
  const loaded = await loadConfigFile(configFile, builtinPlugins);
  const gateway = new Gateway(loaded.config, { userPlugins: loaded.userPlugins });
  try {
    const res = await gateway.request('/x', { headers: { authorization: `Bearer ${token}` } });
    await res.body?.cancel();
    return res.status;
  } finally {
    await gateway.close();
  }
}

before(async () => {
  upstream = await startUpstream();
  dir = await fs.mkdtemp(path.join(import.meta.dirname, '.tmp-token-'));
  await fs.writeFile(path.join(dir, 'private.pem'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
});

after(async () => {
  await upstream?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('isogate token', () => {
  it('signs with the instance secret, with its issuer, audience and roles where it reads them', async () => {
    const file = await writeConfig(
      'hs.config.ts',
      `auth: { use: 'auth', options: { secret: '${SECRET}', issuer: ['https://dev.isogate', 'other'], audience: 'api', roles: { claim: 'realm_access.roles', required: ['admin'] } } }`,
    );
    const { config } = await loadConfigFile(file, builtinPlugins);
    const dev = await createDevToken(config, { ...defaults, sub: 'alice', roles: 'admin, ops', ttl: '15m' }, Date.UTC(2030, 0, 1));
    assert.equal(dev.instance, 'auth');
    assert.deepEqual(dev.warnings, []);
    assert.deepEqual(decodeProtectedHeader(dev.token), { alg: 'HS256', typ: 'JWT' });
    const claims = decodeJwt(dev.token);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.iss, 'https://dev.isogate');
    assert.equal(claims.aud, 'api');
    assert.deepEqual(claims['realm_access'], { roles: ['admin', 'ops'] });
    assert.equal(claims.exp! - claims.iat!, 900);

    const now = await createDevToken(config, { ...defaults, roles: 'admin' });
    assert.equal(await statusWith(file, now.token), 200);
    const noRole = await createDevToken(config, defaults);
    assert.match(noRole.warnings[0]!, /will get 403/);
    assert.equal(await statusWith(file, noRole.token), 403);
  });

  it('writes scope roles as one space-separated string, extra claims from --claim', async () => {
    const file = await writeConfig('scope.config.ts', `auth: { use: 'auth', options: { secret: '${SECRET}', roles: { claim: 'scope', required: ['orders:read'] }, requiredClaims: ['tenant.id'] } }`);
    const { config } = await loadConfigFile(file, builtinPlugins);
    const missing = await createDevToken(config, { ...defaults, roles: 'orders:read' });
    assert.match(missing.warnings.join('\n'), /requires the claim tenant\.id/);
    const dev = await createDevToken(config, { ...defaults, roles: 'orders:read,profile', claim: ['tenant.id=7', 'email=dev@example.com'] });
    const claims = decodeJwt(dev.token);
    assert.equal(claims['scope'], 'orders:read profile');
    assert.deepEqual(claims['tenant'], { id: 7 });
    assert.equal(claims['email'], 'dev@example.com');
    assert.equal(await statusWith(file, dev.token), 200);
  });

  it('signs with --key for an instance verifying with public keys, and refuses without it', async () => {
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const file = await writeConfig('rs.config.ts', `auth: { use: 'auth', options: { keys: [{ kid: 'dev-1', publicKey: ${JSON.stringify(pem)}, algorithms: ['PS256'] }] } }`);
    const { config } = await loadConfigFile(file, builtinPlugins);
    await assert.rejects(createDevToken(config, defaults), (err: unknown) => err instanceof TokenUsageError && /no HMAC secret to sign with.*--key/.test(err.message));
    const dev = await createDevToken(config, { ...defaults, key: path.join(dir, 'private.pem'), kid: 'dev-1' });
    assert.deepEqual(decodeProtectedHeader(dev.token), { alg: 'PS256', typ: 'JWT', kid: 'dev-1' });
    assert.equal(await statusWith(file, dev.token), 200);
  });

  it('chooses the instance: the only one, or --plugin among several', async () => {
    const file = await writeConfig('two.config.ts', `auth: { use: 'auth', options: { secret: '${SECRET}' } }, other: { use: 'auth', options: { secret: '${SECRET}-2' } }`);
    const { config } = await loadConfigFile(file, builtinPlugins);
    await assert.rejects(createDevToken(config, defaults), /several auth instances \(auth, other\): choose one with --plugin/);
    await assert.rejects(createDevToken(config, { ...defaults, plugin: 'nope' }), /--plugin nope: no auth plugin instance of that name/);
    assert.equal((await createDevToken(config, { ...defaults, plugin: 'other' })).instance, 'other');
  });

  it('parses --ttl', () => {
    assert.equal(parseTtl('90'), 90);
    assert.equal(parseTtl('30s'), 30);
    assert.equal(parseTtl('15m'), 900);
    assert.equal(parseTtl('1h'), 3600);
    assert.equal(parseTtl('7d'), 604_800);
    for (const bad of ['0', '1w', '-1h', 'soon']) assert.throws(() => parseTtl(bad), TokenUsageError, bad);
  });

  it('runs as a CLI command: the token alone on stdout; exit 2 with a clear message when it cannot sign', async () => {
    const good = await writeConfig('cli.config.ts', `auth: { use: 'auth', options: { secret: '${SECRET}', audience: 'api' } }`);
    const run = promisify(execFile);
    const { stdout, stderr } = await run(process.execPath, [cli, 'token', '--config', good, '--sub', 'bob', '--ttl', '5m']);
    const token = stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.match(stderr, /plugins\.auth, HS256, expires/);
    assert.equal(decodeJwt(token).sub, 'bob');
    assert.equal(await statusWith(good, token), 200);

    const jwks = await writeConfig('jwks.config.ts', `auth: { use: 'auth', options: { jwks: { url: 'http://127.0.0.1:1/jwks' } } }`);
    const failed = await run(process.execPath, [cli, 'token', '--config', jwks]).then(
      () => assert.fail('expected exit 2'),
      (err: { code: number; stderr: string; stdout: string }) => err,
    );
    assert.equal(failed.code, 2);
    assert.equal(failed.stdout, '');
    assert.match(failed.stderr, /isogate token: plugins\.auth has no HMAC secret to sign with \(it verifies with the JWKS at http:\/\/127\.0\.0\.1:1\/jwks\): pass --key/);
  });
});
