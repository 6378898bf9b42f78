import { Gateway, GatewayServer, builtinPlugins, resolveConfig } from '../../runtime/src/index.ts';
import type { GatewayConfig } from '../../sdk/src/config.ts';

export interface TestGateway {
  readonly gateway: Gateway;
  readonly server: GatewayServer;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `127.0.0.1:<port>` */
  readonly host: string;
  /** Graceful shutdown (idempotent); also closes the gateway's upstream pools. */
  close(): Promise<void>;
}

/** Build a Gateway + GatewayServer from a config object and listen on 127.0.0.1:0. */
export async function startGateway(config: GatewayConfig): Promise<TestGateway> {
  const resolved = resolveConfig({ ...config, server: { ...config.server, port: 0 } }, builtinPlugins);
  const gateway = new Gateway(resolved);
  const server = new GatewayServer(gateway);
  const { port } = await server.listen(0, '127.0.0.1');
  let closing: Promise<void> | null = null;
  return {
    gateway,
    server,
    port,
    url: `${server.secure ? 'https' : 'http'}://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    close(): Promise<void> {
      closing ??= server.shutdown(1_000).then(() => undefined);
      return closing;
    },
  };
}
