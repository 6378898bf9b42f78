import assert from 'node:assert/strict';
import net from 'node:net';
import { after, it } from 'node:test';
import { z } from 'zod';
import { Gateway, GatewayServer, builtinPlugins, resolveConfig } from '../../../runtime/src/index.ts';
import { definePluginRegistry, type BuiltinPlugin } from '../../../runtime/src/plugins/builtin-plugin.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';

// Regression: a client that hangs up after the upstream answered but before the response is
// written used to crash the process (undici's body stream emitted an unhandled 'error' when it
// was destroyed). A middleware that holds the response until the client is gone makes the race
// deterministic.
const holdUntilClientLeaves: BuiltinPlugin<Record<string, never>> = {
  name: 'hold',
  options: z.strictObject({}),
  create: () => (next) => async (req) => {
    const res = await next(req);
    if (req.headers['x-hold'] === undefined) return res;
    if (!req.signal.aborted) await new Promise((resolve) => req.signal.addEventListener('abort', resolve, { once: true }));
    return res;
  },
};
const plugins = definePluginRegistry([...builtinPlugins.values(), holdUntilClientLeaves] as BuiltinPlugin<never>[]);

let upstream: Upstream;
let server: GatewayServer;
after(async () => {
  await server?.shutdown(500);
  await upstream?.close();
});

it('survives a client that leaves between the upstream answer and the response write', async () => {
  upstream = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('x'.repeat(100_000));
  });
  const config = resolveConfig({ plugins: { hold: { use: 'hold' } }, routes: [{ path: '/*', upstream: upstream.url, middleware: ['hold'] }] }, plugins);
  const gateway = new Gateway(config, { plugins });
  server = new GatewayServer(gateway);
  const { port } = await server.listen(0, '127.0.0.1');

  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);
  process.on('uncaughtException', onCrash);
  try {
    for (let i = 0; i < 5; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.write(`GET /x HTTP/1.1\r\nHost: gw\r\nX-Hold: 1\r\n\r\n`);
      await new Promise((resolve) => setTimeout(resolve, 100)); // the upstream has answered by now
      socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The gateway still serves.
    const res = await fetch(`http://127.0.0.1:${port}/after`);
    assert.equal(res.status, 200);
    assert.equal((await res.text()).length, 100_000);
  } finally {
    process.off('uncaughtException', onCrash);
  }
  assert.deepEqual(crashes, []);
});
