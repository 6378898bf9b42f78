import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Two small services for the example gateway: `users` (JSON CRUD-ish) and `orders` (JSON, an
 * echo of what the upstream received, and a server-sent events stream).
 */

const users = new Map([
  ['1', { id: '1', name: 'Ada Lovelace' }],
  ['2', { id: '2', name: 'Grace Hopper' }],
]);

function json(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

function usersService(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://users');
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts[0] !== 'users') return json(res, 404, { error: 'not found', path: url.pathname });
  if (parts.length === 1 && req.method === 'GET') return json(res, 200, [...users.values()]);
  if (parts.length === 1 && req.method === 'POST') {
    readBody(req).then((body) => {
      const id = String(users.size + 1);
      const user = { id, ...(JSON.parse(body || '{}') as object) };
      users.set(id, user as { id: string; name: string });
      json(res, 201, user);
    }, () => json(res, 400, { error: 'bad body' }));
    return;
  }
  const user = users.get(decodeURIComponent(parts[1] ?? ''));
  return user ? json(res, 200, user) : json(res, 404, { error: 'no such user' });
}

function ordersService(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://orders');
  if (url.pathname.startsWith('/echo')) {
    return json(res, 200, { method: req.method, url: req.url, headers: req.headers });
  }
  if (url.pathname === '/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    let n = 0;
    const tick = setInterval(() => {
      res.write(`id: ${++n}\ndata: ${JSON.stringify({ n, at: new Date().toISOString() })}\n\n`);
      if (n === 10) {
        clearInterval(tick);
        res.end();
      }
    }, 1_000);
    res.on('close', () => clearInterval(tick));
    return;
  }
  if (url.pathname === '/orders') return json(res, 200, [{ id: 'o-1', userId: '1', total: 42 }]);
  const match = /^\/orders\/([^/]+)$/.exec(url.pathname);
  if (match) return json(res, 200, { id: match[1], userId: '1', total: 42 });
  return json(res, 404, { error: 'not found', path: url.pathname });
}

function listen(handler: http.RequestListener, port: number): Promise<http.Server> {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

export async function startExampleServices(ports = { users: 3001, orders: 3002 }): Promise<{ users: string; orders: string; close(): void }> {
  const [u, o] = await Promise.all([listen(usersService, ports.users), listen(ordersService, ports.orders)]);
  const url = (s: http.Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  return {
    users: url(u),
    orders: url(o),
    close() {
      u.closeAllConnections();
      o.closeAllConnections();
      u.close();
      o.close();
    },
  };
}
