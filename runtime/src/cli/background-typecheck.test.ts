import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../logging/logger.ts';
import { backgroundTypecheck } from './background-typecheck.ts';
import type { TypecheckReport } from './typecheck-worker.ts';

// Inside the repository, so the config resolves @isogate/sdk and zod.
const root = path.resolve(import.meta.dirname, '../../..');
let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(root, 'runtime', '.tmp-background-typecheck-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ destination: stream, level: 'debug' }), lines };
}

const plugin = (body: string) =>
  `import { definePlugin } from '@isogate/sdk';\nimport { z } from 'zod';\nexport default definePlugin({\n  name: 'tag', version: '1.0.0', options: z.object({ value: z.string() }),\n  onRequest(req, ctx) {\n${body}\n  },\n});\n`;

function nextReport(reports: TypecheckReport[], count: number): Promise<TypecheckReport> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (reports.length >= count) {
        clearInterval(poll);
        resolve(reports[count - 1]!);
      }
    }, 20);
  });
}

describe('isogate dev: background type check', () => {
  it('logs type errors in the config and its plugins with file:line:column, and the all-clear once fixed; changes in a burst make one check', { timeout: 120_000 }, async () => {
    const pluginFile = path.join(dir, 'tag.ts');
    await fs.writeFile(pluginFile, plugin(`    const count: number = ctx.options.value;\n    req.headers.set('x-tag', String(count));`));
    const config = path.join(dir, 'gateway.config.ts');
    await fs.writeFile(config, `import { defineConfig, usePlugin } from '@isogate/sdk';\nexport default defineConfig({\n  plugins: { tag: usePlugin(() => import('./tag.ts'), { value: 'v' }) },\n  middleware: ['tagg'],\n  routes: [],\n});\n`);
    const { logger, lines } = capture();
    const reports: TypecheckReport[] = [];
    const checker = backgroundTypecheck(config, logger, { debounceMs: 50, onChecked: (r) => reports.push(r) });
    try {
      for (let i = 0; i < 5; i++) checker.schedule();
      const first = await nextReport(reports, 1);
      assert.ok(first.ok);
      const errors = lines.filter((l) => String(l['msg']).startsWith('type error '));
      const rel = (f: string) => path.relative(process.cwd(), f);
      assert.equal(errors.length, 2, JSON.stringify(errors));
      assert.match(String(errors.find((e) => e['file'] === pluginFile)!['msg']), new RegExp(`^type error ${rel(pluginFile).replace(/\./g, '\\.')}:6:11: Type 'string' is not assignable to type 'number'`));
      assert.match(String(errors.find((e) => e['file'] === config)!['msg']), new RegExp(`^type error ${rel(config).replace(/\./g, '\\.')}:4:16: Type '"tagg"' is not assignable to type '"tag"'`));
      assert.deepEqual(lines.filter((l) => String(l['msg']).startsWith('type check:')).map((l) => l['msg']), ['type check: 2 type errors']);

      await fs.writeFile(pluginFile, plugin(`    req.headers.set('x-tag', ctx.options.value);`));
      await fs.writeFile(config, (await fs.readFile(config, 'utf8')).replace("'tagg'", "'tag'"));
      checker.schedule();
      checker.schedule();
      await nextReport(reports, 2);
      assert.equal(lines.at(-1)!['msg'], 'type check: no errors');
      // The burst of five and the pair made one check each.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(reports.length, 2);
    } finally {
      await checker.close();
    }
  });

  it('runs off the serving thread, at the lowest CPU priority: the event loop keeps turning during a check', { timeout: 120_000 }, async () => {
    const config = path.join(dir, 'plain.config.ts');
    await fs.writeFile(config, `import { defineConfig } from '@isogate/sdk';\nexport default defineConfig({ routes: [{ path: '/a', upstream: 'http://127.0.0.1:1' }] });\n`);
    const reports: TypecheckReport[] = [];
    const checker = backgroundTypecheck(config, capture().logger, { debounceMs: 0, onChecked: (r) => reports.push(r) });
    const delay = monitorEventLoopDelay({ resolution: 10 });
    const started = Date.now();
    delay.enable();
    try {
      checker.schedule();
      const report = await nextReport(reports, 1);
      delay.disable();
      const elapsed = Date.now() - started;
      assert.ok(report.ok);
      assert.deepEqual(report.problems, []);
      // A cold check (loading the compiler, parsing lib files) takes seconds of CPU; had it run on
      // this thread, the event loop would have stalled that long. Loose bound: half the time taken.
      const stallMs = delay.max / 1e6;
      assert.ok(stallMs < elapsed / 2, `event loop stalled ${stallMs.toFixed(0)} ms during a ${elapsed} ms check`);
      if (process.platform === 'linux') {
        assert.equal(report.nice, 19, 'the checker thread runs at nice 19');
        assert.equal(os.getPriority(), 0, 'the serving thread keeps its priority');
      }
    } finally {
      await checker.close();
    }
  });
});
