import http from 'node:http';
import type { Logger } from 'pino';
import { splitTarget } from '../router/normalize-path.ts';

/** A Host value we would put in a Location: a name or address and an optional port, nothing else. */
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d+)?$/i;

/**
 * `server.tls.redirectHttpPort`: a plain-HTTP listener that answers every request with a 308 to
 * the same host and path on HTTPS (308 keeps the method and body, unlike 301). It proxies nothing.
 */
export function startHttpsRedirect(port: number, host: string, httpsPort: number, logger: Logger): Promise<http.Server> {
  const server = http.createServer({ requireHostHeader: false }, function redirectToHttps(req, res) {
    const hostHeader = req.headers.host ?? '';
    const target = splitTarget(req.url ?? '/');
    const match = HOST.exec(hostHeader);
    if (!match || !target.ok) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end('a redirect to HTTPS needs a valid Host header and path\n');
      return;
    }
    const authority = httpsPort === 443 ? match[1]! : `${match[1]!}:${httpsPort}`;
    const location = `https://${authority}${target.path}${target.query === '' ? '' : `?${target.query}`}`;
    res.writeHead(308, { location, 'content-type': 'text/plain; charset=utf-8', 'content-length': '0' });
    res.end();
    req.resume();
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      logger.info({ port: (server.address() as { port: number }).port }, 'redirecting plain HTTP to HTTPS');
      resolve(server);
    });
  });
}
