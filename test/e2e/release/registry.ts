/**
 * A private npm registry for tests: verdaccio on 127.0.0.1, on a port the system chose, with its
 * own storage and users in a directory of the test's and no uplink, so nothing a test installs or
 * publishes ever leaves the machine. verdaccio 6.8 runs on the machine's Node (scripts/system-node.ts),
 * the Node that runs npm.
 *
 * `env` is the environment for the npm commands a test runs against it: the registry, a user's
 * token, and an npm cache of its own (so every tarball comes from this registry, not from the
 * machine's cache).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { systemNode } from '../../../scripts/system-node.ts';

export interface PrivateRegistry {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  /** verdaccio's storage directory: `<name>/package.json` and the tarballs beside it. */
  readonly storage: string;
  /** For npm: this registry, a logged-in user, an empty cache of its own. */
  readonly env: NodeJS.ProcessEnv;
  /** What verdaccio wrote, for a failing test's message. */
  output(): string;
  close(): Promise<void>;
}

const REPO = path.resolve(import.meta.dirname, '../../..');
const STARTUP_MS = 30_000;

// Runs on the system Node (`node -e LAUNCHER <verdaccio> <config>`: the arguments are argv[1] and
// [2]): load verdaccio, listen on port 0 of the loopback, print the port.
const LAUNCHER = `
const { runServer } = require(process.argv[1]);
runServer(process.argv[2]).then((app) => {
  const server = app.listen(0, '127.0.0.1', () => process.stdout.write('LISTENING ' + server.address().port + '\\n'));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}, (err) => { console.error(err); process.exit(1); });
`;

function config(storage: string): string {
  // No `uplinks`: a package that is not here is a 404, never a request to npmjs.org.
  return `storage: ${JSON.stringify(storage)}
auth:
  htpasswd:
    file: ${JSON.stringify(path.join(path.dirname(storage), 'htpasswd'))}
    max_users: 10
packages:
  '@*/*':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
web:
  enable: false
max_body_size: 200mb
server:
  keepAliveTimeout: 60
log: { type: stdout, format: pretty, level: warn }
`;
}

/** Start verdaccio in `dir` (created), add a user, and return the registry. */
export async function startRegistry(dir: string): Promise<PrivateRegistry> {
  const storage = path.join(dir, 'storage');
  await mkdir(storage, { recursive: true });
  const configFile = path.join(dir, 'config.yaml');
  await writeFile(configFile, config(storage));
  const verdaccio = createRequire(path.join(REPO, 'package.json')).resolve('verdaccio');
  const child: ChildProcess = spawn(systemNode(), ['-e', LAUNCHER, verdaccio, configFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = once(child, 'exit');

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`verdaccio did not listen within ${STARTUP_MS} ms:\n${output}`)), STARTUP_MS);
    const onData = () => {
      const match = /LISTENING (\d+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(Number(match[1]));
    };
    child.stdout!.on('data', onData);
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`verdaccio exited (${String(code)}) before listening:\n${output}`));
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });

  const url = `http://127.0.0.1:${port}/`;
  const close = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  try {
    // npm adduser's request: the htpasswd plugin creates the user and answers with a token.
    const user = { name: 'release-test', password: 'release-test-password' };
    const res = await fetch(new URL(`-/user/org.couchdb.user:${user.name}`, url), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ _id: `org.couchdb.user:${user.name}`, type: 'user', roles: [], ...user }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as { token?: string };
    if (!res.ok || !body.token) throw new Error(`verdaccio refused the test user: ${res.status} ${JSON.stringify(body)}`);
    const npmrc = path.join(dir, 'npmrc');
    await writeFile(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${body.token}\nfund=false\naudit=false\nupdate-notifier=false\n`);
    const cache = path.join(dir, 'npm-cache');
    await mkdir(cache);
    // Anything that would still try the network (node-gyp fetching headers, a package's own
    // download) meets a proxy on a closed loopback port instead of leaving the machine.
    const deadProxy = 'http://127.0.0.1:9';
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      npm_config_userconfig: npmrc,
      npm_config_registry: url,
      npm_config_cache: cache,
      npm_config_update_notifier: 'false',
      npm_config_proxy: deadProxy,
      npm_config_https_proxy: deadProxy,
      npm_config_noproxy: '127.0.0.1,localhost',
      HTTP_PROXY: deadProxy,
      HTTPS_PROXY: deadProxy,
      NO_PROXY: '127.0.0.1,localhost',
    };
    delete env['NODE_TEST_CONTEXT'];
    return { url, storage, env, output: () => output, close };
  } catch (err) {
    await close();
    throw err;
  }
}
