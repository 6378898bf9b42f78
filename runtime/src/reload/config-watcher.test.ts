import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../logging/logger.ts';
import { ConfigWatcher, type SourceChange } from './config-watcher.ts';

/** How one editor saves a file (all of them synchronous, so a "double save" really is within a millisecond). */
const SAVES: Record<string, (file: string, content: string) => void> = {
  'in place': (file, content) => fs.writeFileSync(file, content),
  'rename over': (file, content) => {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, file);
  },
  'delete and create': (file, content) => {
    fs.unlinkSync(file);
    fs.writeFileSync(file, content);
  },
  // Format-on-save: the editor writes the buffer in place, then the formatter's safe write
  // replaces the file. This lost the file for good with chokidar (4 of 4 trials).
  'in place, then rename over within a millisecond': (file, content) => {
    fs.writeFileSync(file, `${content} // unformatted`);
    const tmp = path.join(path.dirname(file), `${path.basename(file)}~`);
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, file);
  },
};

interface Reload {
  /** The plugin file as the reload read it. */
  content: string;
  changes: readonly SourceChange[] | undefined;
}

/** A watcher over a config file and a plugin file in a subdirectory, whose reloads read the plugin file. */
async function watched(options: { pollMs?: number; missingGraceMs?: number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isogate-watcher-'));
  fs.mkdirSync(path.join(dir, 'plugins'));
  const config = path.join(dir, 'gateway.config.ts');
  const plugin = path.join(dir, 'plugins', 'tag.ts');
  fs.writeFileSync(config, 'export default {};\n');
  fs.writeFileSync(plugin, 'v0');
  const reloads: Reload[] = [];
  const waiters = new Set<() => void>();
  const watcher = new ConfigWatcher(
    [config, plugin],
    async (changes) => {
      let content: string;
      try {
        content = fs.readFileSync(plugin, 'utf8');
      } catch {
        content = '(missing)';
      }
      reloads.push({ content, changes });
      for (const notify of waiters) notify();
      return { ok: true, files: [config, plugin] };
    },
    // A long poll: what these tests show is that the directory events alone see every save.
    // `since`: nothing was loaded before, each reload reads the file itself.
    { logger: silentLogger(), debounceMs: 10, pollMs: options.pollMs ?? 60_000, missingGraceMs: options.missingGraceMs, since: Number.POSITIVE_INFINITY },
  );
  await watcher.ready();
  /** The first reload at index >= `from` that read `content`; rejects after `timeoutMs`. */
  const reloadWith = (from: number, content: string, timeoutMs = 5_000): Promise<Reload> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = reloads.slice(from).find((r) => r.content === content);
        if (!hit) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no reload read ${JSON.stringify(content)} within ${timeoutMs} ms; reloads since: ${JSON.stringify(reloads.slice(from).map((r) => r.content))}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return {
    dir,
    config,
    plugin,
    reloads,
    reloadWith,
    async close() {
      await watcher.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('config watcher', () => {
  for (const [pattern, save] of Object.entries(SAVES)) {
    it(`sees every one of 100 saves made "${pattern}", each reloaded with its content`, { timeout: 120_000 }, async () => {
      const w = await watched();
      try {
        for (let i = 1; i <= 100; i++) {
          const from = w.reloads.length;
          const content = `export const version = ${i}; // ${pattern}`;
          save(w.plugin, content);
          const reload = await w.reloadWith(from, content);
          // The reload says what triggered it (the old watcher passed nothing).
          assert.deepEqual(reload.changes, [{ file: w.plugin, removed: false }], `save ${i}`);
        }
      } finally {
        await w.close();
      }
    });
  }

  describe('with one watcher', () => {
    let w: Awaited<ReturnType<typeof watched>>;
    before(async () => {
      w = await watched({ pollMs: 50 });
    });
    after(() => w.close());

    it('reloads nothing for saves that leave the content as it was, and once for a burst of writes', async () => {
      const from = w.reloads.length;
      const current = fs.readFileSync(w.plugin, 'utf8');
      SAVES['in place']!(w.plugin, current);
      SAVES['rename over']!(w.plugin, current);
      fs.utimesSync(w.config, new Date(), new Date());
      // The next real save is the only reload: had the no-op saves reloaded, they would come first.
      for (let i = 0; i < 5; i++) SAVES['in place']!(w.plugin, `burst ${i}`);
      const reload = await w.reloadWith(from, 'burst 4');
      assert.equal(w.reloads.indexOf(reload), from, `reloads since: ${JSON.stringify(w.reloads.slice(from))}`);
    });

    it('catches a save whose event it never got: the plugin directory replaced (a checkout, a sync tool)', async () => {
      const from = w.reloads.length;
      const dir = path.dirname(w.plugin);
      fs.renameSync(dir, `${dir}.old`);
      fs.mkdirSync(dir);
      fs.writeFileSync(w.plugin, 'in the new directory');
      await w.reloadWith(from, 'in the new directory');
      // And the new directory is watched from then on.
      const next = w.reloads.length;
      SAVES['in place, then rename over within a millisecond']!(w.plugin, 'saved in the new directory');
      await w.reloadWith(next, 'saved in the new directory');
    });
  });

  it('waits for a deleted file to come back, and reloads without it if it does not', async () => {
    const w = await watched({ missingGraceMs: 300 });
    try {
      const from = w.reloads.length;
      fs.unlinkSync(w.plugin);
      const reload = await w.reloadWith(from, '(missing)');
      assert.deepEqual(reload.changes, [{ file: w.plugin, removed: true }]);
      fs.writeFileSync(w.plugin, 'back');
      await w.reloadWith(from, 'back');
    } finally {
      await w.close();
    }
  });
});
