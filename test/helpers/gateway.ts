import { after } from 'node:test';
import pino from 'pino';
import { Gateway, GatewayServer, builtinPlugins, resolveConfig } from '../../runtime/src/index.ts';
import type { GatewayConfig } from '../../sdk/src/config.ts';
import { startUpstream, type Upstream, type UpstreamHandler } from './upstream.ts';

export interface TestGateway {
  readonly gateway: Gateway;
  readonly server: GatewayServer;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `127.0.0.1:<port>` */
  readonly host: string;
  /** The gateway's log lines (info and up), parsed; only with `captureLogs`, empty otherwise. */
  readonly logs: Record<string, unknown>[];
  /** Graceful shutdown (idempotent); also closes the gateway's upstream pools. */
  close(): Promise<void>;
}

/** Build a Gateway + GatewayServer from a config object and listen on 127.0.0.1:0. */
export async function startGateway(config: GatewayConfig, options: { captureLogs?: boolean } = {}): Promise<TestGateway> {
  const resolved = resolveConfig({ ...config, server: { ...config.server, port: 0 } }, builtinPlugins);
  const logs: Record<string, unknown>[] = [];
  const logger = options.captureLogs ? pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }) : undefined;
  const gateway = new Gateway(resolved, { logger });
  const server = new GatewayServer(gateway);
  const { port } = await server.listen(0, '127.0.0.1');
  let closing: Promise<void> | null = null;
  return {
    gateway,
    server,
    port,
    url: `${server.secure ? 'https' : 'http'}://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    logs,
    close(): Promise<void> {
      closing ??= server.shutdown(1_000).then(() => undefined);
      return closing;
    },
  };
}

/**
 * Upstreams and gateways a suite starts, closed after it (gateways first, so their pools let go
 * of the upstreams). Call inside `describe`.
 */
export function closedAfterSuite(): {
  upstream(handler: UpstreamHandler): Promise<Upstream>;
  /** An upstream started some other way, closed with the rest. */
  adopt<T extends Upstream>(upstream: T): T;
  gateway(config: GatewayConfig, options?: { captureLogs?: boolean }): Promise<TestGateway>;
} {
  const upstreams: Upstream[] = [];
  const gateways: TestGateway[] = [];
  after(async () => {
    for (const gw of gateways) await gw.close();
    for (const up of upstreams) await up.close();
  });
  return {
    upstream: async (handler) => {
      const up = await startUpstream(handler);
      upstreams.push(up);
      return up;
    },
    adopt: (upstream) => {
      upstreams.push(upstream);
      return upstream;
    },
    gateway: async (config, options) => {
      const gw = await startGateway(config, options);
      gateways.push(gw);
      return gw;
    },
  };
}
