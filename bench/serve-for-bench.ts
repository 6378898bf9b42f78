import type http from 'node:http';

/**
 * Listen the way every process the bench starts does: long keep-alive (proxies hold pools for the
 * whole run), one JSON line `{"msg":"listening","role","port"}` on stdout when ready (the runner
 * waits for readiness by polling, the line is for its logs), and exit when stdin closes or on a
 * signal, so nothing outlives the runner. `close` releases what the process holds besides the
 * server (an upstream pool).
 */
export function serveForBench(server: http.Server, role: string, port: number, host: string, close: () => void = () => {}): void {
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.listen(port, host, () => {
    const address = server.address();
    const bound = typeof address === 'object' && address !== null ? address.port : port;
    process.stdout.write(`${JSON.stringify({ msg: 'listening', role, port: bound })}\n`);
  });
  const shutdown = () => {
    server.close();
    server.closeAllConnections();
    close();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}
