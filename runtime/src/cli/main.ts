import cluster from 'node:cluster';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../config/config-error.ts';
import { loadConfigFile } from '../config/load-config.ts';
import { createLogger } from '../logging/logger.ts';
import { builtinPlugins } from '../plugins/builtins.ts';
import { startGateway } from '../start-gateway.ts';
import { formatRouteTable } from './route-table.ts';
import { newPluginCommand } from './new-plugin.ts';
import { tokenCommand, type TokenFlags } from './token.ts';
import { runWorkers } from './workers.ts';
import { onNpmParentExit } from './npm-parent-exit.ts';
import { exitOnceIdle } from './exit-once-idle.ts';
import { backgroundTypecheck } from './background-typecheck.ts';
import { isogateVersion } from './version.ts';

/** Exit codes: 0 ok, 1 the config or a check failed, 2 wrong usage, 3 could not listen. */
const EXIT_CONFIG = 1;
const EXIT_LISTEN = 3;

function integer(min: number, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

interface ServeFlags {
  config: string;
  port?: number;
  host?: string;
  watch?: boolean;
  workers: number;
  logLevel?: string;
}

async function serve(flags: ServeFlags, pretty: boolean, typecheckInBackground = false): Promise<void> {
  await assertConfigExists(flags.config);
  const logger = createLogger({ level: flags.logLevel, pretty });
  if (flags.workers > 1 && cluster.isPrimary) {
    // Validate once in the primary so a bad config fails fast, before any worker starts.
    const loaded = await loadConfigFile(flags.config, builtinPlugins);
    for (const host of loaded.userPlugins.values()) host.dispose();
    runWorkers(flags.workers, logger);
    onNpmParentExit((parent) => {
      logger.warn({ parent }, 'the parent process (npm\'s shell) exited: stopping as on SIGTERM');
      // runWorkers drains every worker on it.
      process.kill(process.pid, 'SIGTERM');
    });
    return;
  }
  let running;
  // `isogate dev`: the config and its plugins are type-checked in a worker thread after each
  // reload (and once at start); the result is logged, never waited for.
  const typecheck = typecheckInBackground ? backgroundTypecheck(flags.config, logger) : null;
  try {
    running = await startGateway({ configPath: flags.config, port: flags.port, host: flags.host, watch: flags.watch, logger, onReload: typecheck ? () => typecheck.schedule() : undefined });
    typecheck?.schedule();
  } catch (err) {
    void typecheck?.close();
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
      logger.fatal(`cannot listen: ${e.message} (choose another port with --port)`);
      logger.flush?.();
      exitOnceIdle(EXIT_LISTEN);
      return;
    }
    throw err;
  }
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // Ctrl-C reaches cluster workers directly *and* through the primary: a repeat within a second
    // is the same request to stop, a later one means "stop now".
    if (firstSignalAt !== 0) {
      if (Date.now() - firstSignalAt < 1_000) return;
      logger.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    firstSignalAt = Date.now();
    void typecheck?.close();
    logger.info({ signal, inFlight: running.server.inFlight }, 'draining: finishing in-flight requests');
    running.stop().then(
      (cutOff) => {
        logger.info({ cutOff }, 'stopped');
        logger.flush?.();
        exitOnceIdle(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        logger.flush?.();
        exitOnceIdle(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // A cluster worker's parent is the primary, which stops it.
  if (cluster.isPrimary) {
    onNpmParentExit((parent) => {
      // Already stopping (Ctrl-C reaches the whole process group, the shell included): not a
      // second request to stop.
      if (firstSignalAt !== 0) return;
      logger.warn({ parent }, 'the parent process (npm\'s shell) exited: stopping as on SIGTERM');
      onSignal('SIGTERM');
    });
  }
}

async function assertConfigExists(configPath: string): Promise<void> {
  try {
    await access(configPath);
  } catch {
    process.stderr.write(`isogate: config file not found: ${configPath} (pass --config <file>)\n`);
    process.exit(EXIT_CONFIG);
  }
}

async function check(configPath: string): Promise<number> {
  // Loaded only here: the TypeScript compiler is large, and a serving gateway never needs it.
  const { typecheckConfig } = await import('./typecheck-config.ts');
  const problems = typecheckConfig(configPath);
  for (const p of problems) process.stderr.write(`${path.relative(process.cwd(), p.file)}:${p.line}:${p.column} - type error: ${p.message}\n`);
  return problems.length;
}

const program = new Command()
  .name('isogate')
  .description('A programmable API gateway: typed gateway.config.ts, TypeScript plugins in V8 isolates.')
  .version(isogateVersion(), '-v, --version', 'print the version of isogate')
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

const configOption = () => new Option('-c, --config <file>', 'gateway config file').default('./gateway.config.ts');
const portOption = () => new Option('-p, --port <port>', 'listen on this port (overrides server.port)').argParser(integer(0, 65535));
const hostOption = () => new Option('-H, --host <host>', 'listen on this interface (overrides server.host)');
const levelOption = () => new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

program
  .command('start')
  .description('serve the gateway (JSON logs)')
  .addOption(configOption())
  .addOption(portOption())
  .addOption(hostOption())
  .option('-w, --watch', 'reload the config when it changes', false)
  .addOption(new Option('--workers <n>', 'processes sharing the port').argParser(integer(1, 64)).default(1))
  .addOption(levelOption())
  .action((flags: ServeFlags) => serve(flags, false));

program
  .command('dev')
  .description('serve with hot reload, human-readable logs and type errors reported in the background')
  .addOption(configOption())
  .addOption(portOption())
  .addOption(hostOption())
  .addOption(levelOption())
  .action((flags: ServeFlags) => serve({ ...flags, watch: true, workers: 1 }, true, true));

program
  .command('check')
  .description('validate and type-check the config, print the routing table; exit 1 on any problem')
  .addOption(configOption())
  .action(async (flags: { config: string }) => {
    await assertConfigExists(flags.config);
    const typeErrors = await check(flags.config);
    const loaded = await loadConfigFile(flags.config, builtinPlugins);
    for (const host of loaded.userPlugins.values()) host.dispose();
    process.stdout.write(`${formatRouteTable(loaded.config)}\n`);
    for (const note of loaded.config.notes) process.stdout.write(`\nnote: ${note.path}: ${note.message}`);
    if (loaded.config.notes.length > 0) process.stdout.write('\n');
    if (typeErrors > 0) {
      process.stderr.write(`\n${typeErrors} type error(s) in ${flags.config}\n`);
      process.exitCode = EXIT_CONFIG;
    } else process.stdout.write(`\n${flags.config}: OK (${loaded.config.routes.length} routes)\n`);
  });

program
  .command('new')
  .description('create a new project part from a template')
  .command('plugin <name>')
  .description('scaffold a plugin package: package.json, src/index.ts, its test (node --test), README')
  .option('-d, --dir <path>', 'target directory (default: ./<name without its scope>)')
  .action((name: string, flags: { dir?: string }) => newPluginCommand(name, flags));

program
  .command('plugin')
  .description('work on a plugin package')
  .command('verify [target]')
  .description(
    'check a plugin package as a gateway will use it: npm pack (prepack build), the @isogate/sdk peer range, a load into an isolate ' +
      'with the example options of its package.json (isogate.exampleOptions), npm test, and a consumer config type-checked against its ' +
      'published declarations. target: the package directory (default .) or a .tgz from npm pack; exit 1 when a step fails',
  )
  .action(async (target: string | undefined) => {
    // Loaded only here: it brings the TypeScript compiler.
    const { verifyPluginCommand } = await import('./verify-plugin.ts');
    await verifyPluginCommand(target ?? '.');
  });

program
  .command('token')
  .description("print a development JWT that the config's auth plugin accepts (signed with its secret, or --key)")
  .addOption(configOption())
  .option('--sub <subject>', 'the sub claim', 'dev-user')
  .option('--roles <list>', 'comma-separated roles, put where the auth instance reads them')
  .option('--ttl <duration>', 'lifetime: 30s, 15m, 1h, 7d', '1h')
  .option('--plugin <instance>', 'the auth plugin instance (default: the only one)')
  .option('--key <file>', 'private key (PEM or JWK) to sign with, for instances verifying with public keys')
  .option('--kid <kid>', 'the kid header (default: the key\'s own)')
  .option('--claim <name=value>', 'an extra claim, repeatable (JSON values accepted)', (v: string, all: string[]) => [...all, v], [] as string[])
  .action(async (flags: TokenFlags) => {
    await assertConfigExists(flags.config);
    await tokenCommand(flags);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // A failed load may have just disposed plugin isolates: exit through exitOnceIdle, never
  // process.exit() or an uncaught error (which exits the same way).
  const e = err as NodeJS.ErrnoException;
  if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
  else if (e.code === 'ENOENT') process.stderr.write(`isogate: ${e.message}\n`);
  else process.stderr.write(`isogate: unexpected error: ${e.stack ?? String(err)}\n`);
  // 1 for an unexpected error too, as Node's own uncaught-error exit.
  exitOnceIdle(EXIT_CONFIG);
}
