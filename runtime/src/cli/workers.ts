import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { serveClusterMetrics } from '../../../plugins/metrics/cluster.ts';

/**
 * `--workers N`: N processes share the listening socket through node:cluster. The primary serves
 * nothing; it restarts a worker that dies unexpectedly (at most once a second) and forwards
 * SIGTERM/SIGINT so every worker drains, exiting 0 when all have. It also answers the metrics
 * plugin's cluster scrapes (the sum over every worker; plugins/metrics/cluster.ts).
 */
export function runWorkers(count: number, logger: Logger): void {
  let stopping = false;
  let exitCode = 0;
  let lastRestart = 0;
  serveClusterMetrics(logger);
  // A worker that dies before it ever listened will die again (bad port, bad config): give up.
  const listened = new WeakSet<Worker>();
  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.once('listening', () => listened.add(worker));
    return worker;
  };
  for (let i = 0; i < count; i++) fork();

  cluster.on('exit', (worker, code, signal) => {
    if (!stopping && !listened.has(worker)) {
      logger.fatal({ pid: worker.process.pid, code, signal }, 'a worker failed before it listened; stopping all workers');
      stopping = true;
      exitCode = code || 1;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
    }
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(exitCode);
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'worker exited unexpectedly; restarting it');
    const wait = Math.max(0, lastRestart + 1_000 - Date.now());
    lastRestart = Date.now() + wait;
    setTimeout(fork, wait);
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, workers: count }, 'draining all workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
