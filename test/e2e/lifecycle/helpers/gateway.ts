import { startGateway, silentLogger, type RunningGateway, type StartOptions } from '../../../../runtime/src/index.ts';
import { withTimeout } from './wait.ts';

export type ReloadOutcome = Parameters<NonNullable<StartOptions['onReload']>>[0];

/** Records every hot-reload outcome and lets a test wait for one that matches. */
export class ReloadLog {
  readonly outcomes: ReloadOutcome[] = [];
  readonly #waiters = new Set<() => void>();

  readonly record = (outcome: ReloadOutcome): void => {
    this.outcomes.push(outcome);
    for (const notify of this.#waiters) notify();
  };

  /** The first outcome at index >= `from` that satisfies `match` (outcomes that do not are skipped). */
  waitFor(from: number, match: (outcome: ReloadOutcome) => boolean, timeoutMs: number, label: string): Promise<ReloadOutcome> {
    const found = new Promise<ReloadOutcome>((resolve) => {
      const check = () => {
        const hit = this.outcomes.slice(from).find(match);
        if (hit) {
          this.#waiters.delete(check);
          resolve(hit);
        }
      };
      this.#waiters.add(check);
      check();
    });
    return withTimeout(found, timeoutMs, () => `${label}; outcomes so far: ${this.describe(from)}`);
  }

  describe(from = 0): string {
    return JSON.stringify(this.outcomes.slice(from).map((o) => (o.ok ? 'ok' : String((o.error as Error)?.message ?? o.error))));
  }
}

/** startGateway with watching on, a silent logger and a ReloadLog; `stop()` is bounded. */
export async function startWatched(configPath: string): Promise<{ running: RunningGateway; reloads: ReloadLog; stop: () => Promise<number> }> {
  const reloads = new ReloadLog();
  const running = await withTimeout(
    startGateway({ configPath, port: 0, host: '127.0.0.1', watch: true, logger: silentLogger(), onReload: reloads.record }),
    30_000,
    `startGateway(${configPath})`,
  );
  return { running, reloads, stop: () => withTimeout(running.stop(), 40_000, 'running.stop()') };
}
