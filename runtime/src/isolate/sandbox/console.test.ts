import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { compose } from '../../chain/compose.ts';
import { testRequest } from '../../chain/test-request.ts';
import type { GatewayRequest } from '../../chain/types.ts';
import { createLogger } from '../../logging/logger.ts';
import { bundlePlugin } from '../bundle-plugin.ts';
import { createPluginMiddleware } from '../plugin-middleware.ts';
import { PluginHost } from '../plugin-host.ts';

const fixture = path.join(import.meta.dirname, 'fixtures/console-lines.ts');
const lineOf = (text: string) => readFileSync(fixture, 'utf8').split('\n').findIndex((l) => l.includes(text)) + 1;

describe('sandbox: console', () => {
  it("writes to the request's log, in order with ctx.log, at its level, with the plugin's own file:line", async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (line: string) => lines.push(line) } });
    const host = await PluginHost.create('console-lines', await bundlePlugin(fixture), {}, { memoryMb: 32, cpuMs: 1_000, wallMs: 2_000 }, logger);
    try {
      const handler = compose([{ name: 'console-lines', middleware: createPluginMiddleware(host, 'console-lines', 'fail-closed', logger) }], async () => ({ status: 204, headers: {}, body: null }));
      const res = await handler(testRequest({ path: '/orders/1', headers: { host: 'gw' }, route: { name: 'r' } as GatewayRequest['route'] }));
      assert.equal(res.status, 204);
      const entries = lines.map((l) => JSON.parse(l) as { level: number; msg: string; plugin?: string; source?: string }).filter((e) => e.plugin === 'console-lines' && e.msg !== 'plugin isolate disposed');
      assert.deepEqual(
        entries.map((e) => [e.level, e.msg]),
        [
          [30, 'hello { id: 7, tags: [ "a" ] } /orders/1'],
          [30, 'from ctx.log'],
          [40, 'after await: 42'],
          [50, 'failed: Error: boom'],
        ],
      );
      const at = (text: string) => new RegExp(`fixtures/console-lines\\.ts:${lineOf(text)}:\\d+$`);
      assert.match(entries[0]!.source!, at("console.log('hello'"));
      assert.equal(entries[1]!.source, undefined, 'ctx.log lines carry no source');
      assert.match(entries[2]!.source!, at('console.warn('), 'after an await, still this request and this line');
      assert.match(entries[3]!.source!, at('console.error('), 'the line in the helper that called console');
    } finally {
      host.dispose();
    }
  });
});
