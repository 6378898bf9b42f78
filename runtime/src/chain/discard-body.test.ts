import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { it } from 'node:test';
import { request } from 'undici';
import { discardBody } from './discard-body.ts';

it('discards an unread undici body: destroyed, connection released, no error surfaces', async () => {
  const server = http.createServer((_req, res) => res.end('x'.repeat(100_000)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);
  process.on('uncaughtException', onCrash);
  try {
    const { body } = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    discardBody(body);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(body.destroyed, true);
    assert.deepEqual(crashes, []);
  } finally {
    process.off('uncaughtException', onCrash);
    server.closeAllConnections();
    server.close();
  }
});
