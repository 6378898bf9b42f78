import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import type { Logger } from 'pino';
import { ConfigError } from './config/config-error.ts';
import { loadConfigFile } from './config/load-config.ts';
import type { ResolvedConfig } from './config/resolved-config.ts';
import { Gateway } from './gateway.ts';
import { createLogger } from './logging/logger.ts';
import { builtinPlugins } from './plugins/builtins.ts';
import { ConfigWatcher, type ReloadOutcome, type SourceChange } from './reload/config-watcher.ts';
import { changedFiles, reloadLogFields, summarizeReload } from './reload/reload-summary.ts';
import { GatewayServer } from './server/http-server.ts';

export interface StartOptions {
  configPath: string;
  /** Override `server.port` / `server.host` from the command line. */
  port?: number;
  host?: string;
  /** Watch the config and its imports; reload on change. */
  watch?: boolean;
  logger?: Logger;
  /** Called after each hot reload attempt (tests and tooling). */
  onReload?: (outcome: ReloadOutcome) => void;
}

export interface RunningGateway {
  readonly gateway: Gateway;
  readonly server: GatewayServer;
  readonly address: AddressInfo;
  readonly url: string;
  readonly watcher: ConfigWatcher | null;
  /** Graceful shutdown with the configured deadline; resolves with the number of requests cut off. */
  stop(): Promise<number>;
}

function withOverrides(config: ResolvedConfig, options: StartOptions): ResolvedConfig {
  if (options.port === undefined && options.host === undefined) return config;
  const server = Object.freeze({ ...config.server, port: options.port ?? config.server.port, host: options.host ?? config.server.host });
  return Object.freeze({ ...config, server });
}

let pretenuringDisabled = false;

/**
 * Turn off V8's allocation-site pretenuring for a process that serves the gateway.
 *
 * V8 watches object literals (allocation sites) and, when >= 85 % of a site's young objects
 * survive a scavenge, allocates all later objects of that site directly in old space. A proxy
 * creates the same objects per request (literals in Node's stream constructors, undici, the
 * gateway), and a burst of slow requests (cold start under load, a slow upstream) makes them
 * survive once. From then on every request allocates some objects in old space that point to its
 * young objects (listeners, headers, bodies); dead old objects are only reclaimed by a full GC, so
 * each scavenge keeps whole finished requests alive and promotes them: measured 35 % scavenge
 * survival, ~10 MB promoted and 15-20 ms per scavenge, -25 % req/s and 3x p99, and V8 never
 * reverts the decision. Without pretenuring: ~2 % survival, ~2 ms scavenges. Set before the config
 * is loaded or any traffic is served; affects only this process.
 */
function disableAllocationSitePretenuring(): void {
  if (pretenuringDisabled || process.env['ISOGATE_V8_PRETENURING'] === '1') return;
  pretenuringDisabled = true;
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
}

/** What the config allows but a reader should know (fields two backends may both answer), as warnings. */
function logConfigNotes(logger: Logger, config: ResolvedConfig): void {
  for (const note of config.notes) logger.warn({ path: note.path }, `config: ${note.path}: ${note.message}`);
}

/** Load, validate and serve a config file. Throws ConfigError (nothing served) when it is invalid. */
export async function startGateway(options: StartOptions): Promise<RunningGateway> {
  disableAllocationSitePretenuring();
  const logger = options.logger ?? createLogger();
  // A file saved after this may not be what was loaded: the watcher looks at those again.
  const loadStartedAt = Date.now();
  const loaded = await loadConfigFile(options.configPath, builtinPlugins, logger);
  const config = withOverrides(loaded.config, options);
  let gateway: Gateway;
  try {
    gateway = new Gateway(config, { logger, plugins: builtinPlugins, userPlugins: loaded.userPlugins });
  } catch (err) {
    // A built-in refused its instance (a ConfigError from create): nothing owns the isolates yet.
    for (const host of loaded.userPlugins.values()) host.dispose();
    throw err;
  }
  const server = new GatewayServer(gateway);
  const address = await server.listen(config.server.port, config.server.host);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${server.secure ? 'https' : 'http'}://${host}:${address.port}`;
  logger.info({ url, routes: config.routes.length, config: loaded.config === config ? options.configPath : `${options.configPath} (with overrides)` }, 'gateway listening');
  logConfigNotes(logger, config);

  let watcher: ConfigWatcher | null = null;
  // Aborted by stop(): a reload still evaluating a config (up to its deadline) is abandoned, so a
  // shutdown never waits for it.
  const shutdown = new AbortController();
  if (options.watch) {
    const reload = async (changes: readonly SourceChange[]): Promise<ReloadOutcome> => {
      let outcome: ReloadOutcome;
      let next: Awaited<ReturnType<typeof loadConfigFile>> | null = null;
      try {
        const previous = gateway.table.userPlugins;
        next = await loadConfigFile(options.configPath, builtinPlugins, logger, previous, shutdown.signal);
        shutdown.signal.throwIfAborted();
        const loadedNext = next;
        const reused = new Set([...loadedNext.userPlugins.keys()].filter((name) => previous.get(name) === loadedNext.userPlugins.get(name)));
        const nextConfig = withOverrides(next.config, options);
        const summary = summarizeReload(gateway.config, nextConfig, reused, changes);
        gateway.reload(nextConfig, next.userPlugins);
        logger.info(reloadLogFields(summary), 'config reloaded');
        logConfigNotes(logger, nextConfig);
        if (summary.restartNeeded.length > 0) {
          logger.warn({ restartNeeded: summary.restartNeeded }, `${summary.restartNeeded.join(', ')} changed: these apply when the gateway is restarted (the rest was reloaded)`);
        }
        outcome = { ok: true, files: next.files };
      } catch (error) {
        if (next !== null) for (const host of next.userPlugins.values()) host.dispose();
        if (shutdown.signal.aborted) logger.info('config reload abandoned: the gateway is shutting down');
        else {
          // gateway.reload counts its own failures; one that failed before reaching it is counted here.
          if (next === null) gateway.reloadFailed();
          const files = changedFiles(changes);
          if (error instanceof ConfigError) logger.error({ files, code: error.code, issues: error.issues }, `config reload rejected, keeping the last good config\n${error.message}`);
          else logger.error({ files, err: error }, 'config reload failed, keeping the last good config');
        }
        outcome = { ok: false, error };
      }
      options.onReload?.(outcome);
      return outcome;
    };
    watcher = new ConfigWatcher(loaded.files, reload, { logger, since: loadStartedAt });
    await watcher.ready();
  }

  let stopping: Promise<number> | null = null;
  return {
    gateway,
    server,
    address,
    url,
    watcher,
    stop() {
      stopping ??= (async () => {
        shutdown.abort();
        await watcher?.close();
        return server.shutdown(gateway.config.server.timeouts.shutdown);
      })();
      return stopping;
    },
  };
}
