import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

export type ReloadOutcome = { ok: true; files: readonly string[] } | { ok: false; error: unknown };

/** A watched file whose content is not what the last reload read: edited, or gone (`removed`). */
export interface SourceChange {
  readonly file: string;
  readonly removed: boolean;
}

export interface ConfigWatcherOptions {
  logger: Logger;
  /** Quiet time after the last event before the files are compared (an editor's save is several writes). */
  debounceMs?: number;
  /** How often every file and directory is looked at, in case an event was lost. */
  pollMs?: number;
  /** How long a watched file may be missing (a delete-and-create save) before the reload goes ahead without it. */
  missingGraceMs?: number;
  /**
   * When the reading of `files` began (Date.now()). A file modified after that may hold a save the
   * load did not see, and is reloaded once more. Default: now.
   */
  since?: number;
}

/** What the watcher last knew of a file: its content's hash (null: missing) and its stat stamp. */
interface Known {
  hash: string | null;
  stamp: string | null;
  /** When it was first found missing since the last reload (0: not missing). */
  missingSince: number;
}

interface WatchedDir {
  watcher: fs.FSWatcher | null;
  /** The directory's inode when it was watched: another inode means it was replaced. */
  ino: number | null;
}

/** A hash no content has: the file must be reloaded once more (the load may have missed a save). */
const UNSEEN = 'unseen';

async function readState(file: string): Promise<{ hash: string | null; stamp: string | null; mtimeMs: number }> {
  try {
    // Stamp first: a write between the two leaves a stamp older than the content, so the next
    // poll looks again (and finds the content it already hashed), never the reverse.
    const stat = await fs.promises.stat(file, { bigint: true });
    const content = await fs.promises.readFile(file);
    return { hash: createHash('sha256').update(content).digest('base64'), stamp: stampOf(stat), mtimeMs: Number(stat.mtimeNs / 1_000_000n) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { hash: null, stamp: null, mtimeMs: 0 };
    // Unreadable (EACCES, EISDIR…): a state of its own, so that the reload reports it.
    return { hash: `error:${code ?? String(err)}`, stamp: null, mtimeMs: 0 };
  }
}

function stampOf(stat: fs.BigIntStats): string {
  return `${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
}

async function stampNow(file: string): Promise<string | null> {
  try {
    return stampOf(await fs.promises.stat(file, { bigint: true }));
  } catch {
    return null;
  }
}

/**
 * Watches the config file and the local files it imports, and reloads when one of them has
 * different content from what the last reload read. Changes are debounced and reloads are
 * serialised: a change during a reload is looked at once it has finished. The reload itself
 * (load → validate → swap) is the caller's; an outcome that fails leaves the last good config
 * serving.
 *
 * Why directories and content, not file watches (chokidar's, before): a watch on a file follows
 * its inode, and editors that save by writing a temp file and renaming it over the original
 * (format-on-save, "safe write") replace that inode. chokidar 4 re-attached on such renames, but
 * an in-place write followed within a millisecond by a rename lost the file for good (4 of 4
 * trials): no later save was seen. A directory's inode survives every save pattern, so its
 * events (a child modified, created, renamed onto, deleted) are filtered by name instead, and
 * whether a file changed is decided by hashing its content: a save that changes nothing (touch,
 * a format that was a no-op) reloads nothing, and a burst of events for one save reloads once.
 * Events can still be lost (an inotify queue overflow, a directory replaced by a checkout, file
 * systems without events), so every file's stat stamp is also polled and a directory whose inode
 * changed or whose watch failed is watched again: a missed save is caught within a poll.
 */
export class ConfigWatcher {
  readonly #reload: (changes: readonly SourceChange[]) => Promise<ReloadOutcome>;
  readonly #logger: Logger;
  readonly #debounceMs: number;
  readonly #pollMs: number;
  readonly #missingGraceMs: number;
  readonly #known = new Map<string, Known>();
  readonly #dirs = new Map<string, WatchedDir>();
  readonly #ready: Promise<void>;
  #timer: NodeJS.Timeout | null = null;
  #poller: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #closed = false;

  constructor(files: readonly string[], reload: (changes: readonly SourceChange[]) => Promise<ReloadOutcome>, options: ConfigWatcherOptions) {
    this.#reload = reload;
    this.#logger = options.logger;
    this.#debounceMs = options.debounceMs ?? 75;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#missingGraceMs = options.missingGraceMs ?? 500;
    this.#ready = this.#track(files, options.since ?? Date.now()).then(() => this.#poll());
  }

  /** Resolves once the directories are watched and the files' contents known (tests wait for this before editing). */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** The files watched now (absolute paths). */
  get files(): readonly string[] {
    return [...this.#known.keys()];
  }

  /**
   * Make `files` the watched set. A file new to the set is hashed now; if it was modified after
   * `since` (while the reload that found it was reading), it is reloaded once more.
   */
  async #track(files: readonly string[], since: number): Promise<void> {
    const next = new Set(files.map((f) => path.resolve(f)));
    for (const file of this.#known.keys()) if (!next.has(file)) this.#known.delete(file);
    let unseen = false;
    await Promise.all(
      [...next]
        .filter((file) => !this.#known.has(file))
        .map(async (file) => {
          const state = await readState(file);
          // Later than the millisecond `since` was taken in. Not earlier: a file written just before
          // a load would be reloaded for nothing. The price: file system clocks are coarse (a jiffy
          // on Linux), so a save within a few milliseconds after the load began can carry an older
          // mtime and go unseen until the next save.
          const modifiedSince = state.hash !== null && state.mtimeMs > since;
          unseen ||= modifiedSince;
          this.#known.set(file, { hash: modifiedSince ? UNSEEN : state.hash, stamp: state.stamp, missingSince: 0 });
        }),
    );
    if (this.#closed) return;
    const dirs = new Set([...this.#known.keys()].map((f) => path.dirname(f)));
    for (const [dir, watched] of this.#dirs) {
      if (dirs.has(dir)) continue;
      watched.watcher?.close();
      this.#dirs.delete(dir);
    }
    for (const dir of dirs) if (!this.#dirs.has(dir)) this.#dirs.set(dir, this.#watchDir(dir));
    if (unseen) this.#schedule();
  }

  #watchDir(dir: string): WatchedDir {
    const watched: WatchedDir = { watcher: null, ino: null };
    try {
      watched.ino = fs.statSync(dir).ino;
      watched.watcher = fs.watch(dir, { persistent: true }, (event, name) => this.#onEvent(dir, event, name));
      watched.watcher.on('error', (err) => {
        // A removed directory, a file system that stopped answering: the poll watches it again.
        this.#logger.debug({ err, dir }, 'config directory watch failed');
        watched.watcher?.close();
        watched.watcher = null;
      });
    } catch (err) {
      this.#logger.debug({ err, dir }, 'config directory cannot be watched now; polling it');
    }
    return watched;
  }

  #onEvent(dir: string, event: string, name: string | null): void {
    // No name (some platforms, an overflow): anything in the directory may have changed.
    const file = name === null ? null : path.join(dir, name);
    if (file !== null && !this.#known.has(file)) return;
    this.#logger.debug({ event, file: file ?? dir }, 'config source changed');
    this.#schedule();
  }

  /** Look at every directory and file: re-watch what was lost, compare stamps, catch what events missed. */
  async #poll(): Promise<void> {
    if (this.#closed) return;
    let suspect = false;
    for (const [dir, watched] of this.#dirs) {
      let ino: number | null = null;
      try {
        ino = (await fs.promises.stat(dir)).ino;
      } catch {
        /* gone for now */
      }
      if (this.#closed || this.#dirs.get(dir) !== watched) continue;
      if (ino !== null && (watched.watcher === null || ino !== watched.ino)) {
        watched.watcher?.close();
        this.#dirs.set(dir, this.#watchDir(dir));
        suspect = true;
      }
    }
    for (const [file, known] of this.#known) {
      const stamp = await stampNow(file);
      if (stamp !== known.stamp) {
        if (!suspect) this.#logger.debug({ file }, 'config source changed (seen by polling)');
        suspect = true;
      }
    }
    if (this.#closed) return;
    if (suspect) this.#schedule();
    this.#poller = setTimeout(() => void this.#poll(), this.#pollMs);
    this.#poller.unref();
  }

  #schedule(delayMs = this.#debounceMs): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#run();
    }, delayMs);
  }

  #run(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#cycle()
      .catch((err: unknown) => this.#logger.error({ err }, 'config reload crashed'))
      .finally(() => {
        this.#running = null;
        if (this.#again) {
          this.#again = false;
          this.#run();
        }
      });
  }

  /** Compare every file with what the last reload read; reload if any differs. */
  async #cycle(): Promise<void> {
    if (this.#closed) return;
    const files = [...this.#known.keys()];
    const states = await Promise.all(files.map((file) => readState(file)));
    const now = Date.now();
    const changed: { file: string; hash: string | null; stamp: string | null }[] = [];
    let waiting = false;
    files.forEach((file, i) => {
      const known = this.#known.get(file);
      const state = states[i]!;
      if (!known) return;
      // The stamp is refreshed even when the content is the same, so the poll stops suspecting it.
      if (state.hash === known.hash) {
        known.stamp = state.stamp;
        known.missingSince = 0;
        return;
      }
      if (state.hash === null) {
        // Deleted: most likely an editor's delete-and-create save; give it a moment to reappear.
        known.missingSince ||= now;
        if (now - known.missingSince < this.#missingGraceMs) waiting = true;
      }
      changed.push({ file, ...state });
    });
    if (waiting) {
      this.#schedule();
      return;
    }
    if (changed.length === 0 || this.#closed) return;
    for (const c of changed) {
      const known = this.#known.get(c.file)!;
      known.hash = c.hash;
      known.stamp = c.stamp;
      known.missingSince = 0;
    }
    const startedAt = Date.now();
    const outcome = await this.#reload(changed.map((c) => ({ file: c.file, removed: c.hash === null })));
    if (outcome.ok) await this.#track(outcome.files, startedAt);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#poller) clearTimeout(this.#poller);
    for (const watched of this.#dirs.values()) watched.watcher?.close();
    this.#dirs.clear();
    await this.#ready.catch(() => {});
    await this.#running;
  }
}
