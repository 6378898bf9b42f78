import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';

export type ReloadOutcome = { ok: true; files: readonly string[] } | { ok: false; error: unknown };

/**
 * Watches the config file and the local files it imports. Changes are debounced and reloads are
 * serialised: a change during a reload triggers exactly one more reload afterwards. The reload
 * itself (load → validate → swap) is the caller's; an outcome that fails leaves the last good
 * config serving.
 */
export class ConfigWatcher {
  readonly #watcher: FSWatcher;
  readonly #reload: () => Promise<ReloadOutcome>;
  readonly #logger: Logger;
  readonly #debounceMs: number;
  readonly #ready: Promise<void>;
  #files: Set<string>;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #pending = false;

  constructor(files: readonly string[], reload: () => Promise<ReloadOutcome>, options: { logger: Logger; debounceMs?: number }) {
    this.#files = new Set(files);
    this.#reload = reload;
    this.#logger = options.logger;
    this.#debounceMs = options.debounceMs ?? 75;
    this.#watcher = watch([...files], { ignoreInitial: true, atomic: true });
    // chokidar emits 'ready' once; keep the promise so every caller can await it.
    this.#ready = new Promise((resolve) => this.#watcher.once('ready', () => resolve()));
    this.#watcher.on('all', (event, file) => {
      this.#logger.debug({ event, file }, 'config source changed');
      this.#schedule();
    });
    this.#watcher.on('error', (err) => this.#logger.error({ err }, 'config watcher failed'));
  }

  /** Resolves once chokidar has its watches in place (tests wait for this before editing). */
  ready(): Promise<void> {
    return this.#ready;
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#run();
    }, this.#debounceMs);
  }

  #run(): void {
    if (this.#running) {
      this.#pending = true;
      return;
    }
    this.#running = this.#reload()
      .then((outcome) => {
        if (outcome.ok) this.#updateFiles(outcome.files);
      })
      .catch((err: unknown) => this.#logger.error({ err }, 'config reload crashed'))
      .finally(() => {
        this.#running = null;
        if (this.#pending) {
          this.#pending = false;
          this.#run();
        }
      });
  }

  #updateFiles(files: readonly string[]): void {
    const next = new Set(files);
    const added = [...next].filter((f) => !this.#files.has(f));
    const removed = [...this.#files].filter((f) => !next.has(f));
    if (added.length) this.#watcher.add(added);
    if (removed.length) this.#watcher.unwatch(removed);
    this.#files = next;
  }

  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    await this.#watcher.close();
    await this.#running;
  }
}
