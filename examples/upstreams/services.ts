import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Small services for the example gateway: `users` (JSON CRUD-ish), `orders` (JSON, an echo of
 * what the upstream received, and a server-sent events stream), and `billing` and `preferences`
 * (what the aggregated user-profile route merges with the user).
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

const subscriptions = new Map([
  ['1', { userId: '1', plan: 'pro', seats: 5, card: { last4: '4242' } }],
  ['2', { userId: '2', plan: 'free', seats: 1, card: null }],
]);

/** Billing: one subscription per user (what the aggregation example cuts down to its plan). */
function billingService(req: IncomingMessage, res: ServerResponse): void {
  const match = /^\/subscriptions\/([^/]+)$/.exec(new URL(req.url ?? '/', 'http://billing').pathname);
  const subscription = match ? subscriptions.get(decodeURIComponent(match[1]!)) : undefined;
  return subscription ? json(res, 200, subscription) : json(res, 404, { error: 'no subscription' });
}

/** Preferences: per-user settings (grouped under `preferences` by the aggregation example). */
function preferencesService(req: IncomingMessage, res: ServerResponse): void {
  const match = /^\/preferences\/([^/]+)$/.exec(new URL(req.url ?? '/', 'http://preferences').pathname);
  if (!match) return json(res, 404, { error: 'not found' });
  return json(res, 200, { language: match[1] === '2' ? 'en-US' : 'en-GB', theme: 'dark', newsletter: false });
}

function listen(handler: http.RequestListener, port: number): Promise<http.Server> {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const HANDLERS = { users: usersService, orders: ordersService, billing: billingService, preferences: preferencesService };
export type ServiceName = keyof typeof HANDLERS;
export const DEFAULT_SERVICE_PORTS: Readonly<Record<ServiceName, number>> = { users: 3001, orders: 3002, billing: 3003, preferences: 3004 };

/** Start every example service (port 0: a free one); their URLs by name, and close(). */
export async function startExampleServices(ports: Readonly<Record<ServiceName, number>> = DEFAULT_SERVICE_PORTS): Promise<Record<ServiceName, string> & { close(): void }> {
  const names = Object.keys(HANDLERS) as ServiceName[];
  const started = await Promise.allSettled(names.map((name) => listen(HANDLERS[name], ports[name])));
  const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const close = () => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
  };
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    close();
    throw (failed as PromiseRejectedResult).reason;
  }
  const url = (s: http.Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  const urls = Object.fromEntries(names.map((name, i) => [name, url(servers[i]!)])) as Record<ServiceName, string>;
  return { ...urls, close };
}
