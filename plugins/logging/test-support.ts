import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { compose } from '../../runtime/src/chain/compose.ts';
import { sentNotifier, startUpstream } from '../../runtime/src/chain/instruments.ts';
import type { GatewayRequest, GatewayResponse, Handler, Middleware } from '../../runtime/src/chain/types.ts';
import { definePluginRegistry, type BuiltinInstance, type Closable, type PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import { resolveConfig } from '../../runtime/src/config/validate-config.ts';
import type { GatewayConfig } from '../../sdk/src/config.ts';
import { testRequest } from '../../runtime/src/chain/test-request.ts';
import { loggingOptions, type LoggingOptions } from './options.ts';
import { loggingPlugin } from './index.ts';

export type Line = Record<string, unknown>;

/** A pino logger whose lines are parsed into `lines` as they are written. */
export function captureLogger(level = 'info'): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text !== '') lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  // pino writes synchronously to a plain object with write(); a Writable is fine for tests.
  return { logger: pino({ level }, { write: (s: string) => stream.write(s) }), lines };
}

/** `ctx.shared` as the gateway keeps it: one value per key until `closeShared`; `server` settles the config's. */
export function testContext(
  logger: Logger,
  shared = new Map<string, Closable>(),
  server: GatewayConfig['server'] = {},
): PluginFactoryContext & { closeShared(): Promise<void> } {
  return {
    instanceName: 'access',
    logger,
    config: resolveConfig({ server, routes: [] }, definePluginRegistry([])),
    shared<T extends Closable>(key: string, create: () => T): T {
      let value = shared.get(key);
      if (value === undefined) shared.set(key, (value = create()));
      return value as T;
    },
    onGatewayEvent: () => () => {},
    userPlugin: () => undefined,
    async closeShared() {
      const values = [...shared.values()];
      shared.clear();
      await Promise.all(values.map((v) => v.close?.()));
    },
  };
}

/** Options as the config loader hands them over (validated, defaults filled). */
export function parseOptions(input: unknown = {}): LoggingOptions {
  return loggingOptions.parse(input);
}

export function createInstance(input: unknown, ctx: PluginFactoryContext): BuiltinInstance {
  return loggingPlugin.create(parseOptions(input), ctx) as BuiltinInstance;
}

/** A stand-in for the proxy: reports one upstream attempt through the instruments, like the core does. */
export function fakeUpstream(respond: (req: GatewayRequest) => GatewayResponse, origin = 'http://10.0.0.5:3000'): Handler & { seen: GatewayRequest[] } {
  const seen: GatewayRequest[] = [];
  const handler = async (req: GatewayRequest): Promise<GatewayResponse> => {
    seen.push(req);
    const done = req.instruments === null ? null : startUpstream(req, { origin, method: req.method, path: req.path, headers: { ...req.headers } });
    await new Promise((resolve) => setTimeout(resolve, 2));
    const res = respond(req);
    done?.({ status: res.status });
    return res;
  };
  return Object.assign(handler, { seen });
}

/** Run a request through `middleware` and the handler, then report it sent the way the transport does. */
export async function runRequest(
  middleware: Middleware[],
  handler: Handler,
  req: GatewayRequest = testRequest(),
  outcome: { bytes?: number; aborted?: boolean } = {},
): Promise<GatewayResponse> {
  const chain = compose(
    middleware.map((m, i) => ({ name: `m${i}`, middleware: m })),
    handler,
  );
  const res = await chain(req);
  const body = typeof res.body === 'string' ? Buffer.byteLength(res.body) : 0;
  sentNotifier(req)?.(res.status, { bytes: outcome.bytes ?? body, aborted: outcome.aborted ?? false });
  return res;
}
