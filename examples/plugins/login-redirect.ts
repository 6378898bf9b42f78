import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';

/**
 * Sends a browser without a session cookie to the login page, with where it was going in `next`:
 * `302 Location: https://login.example.com/auth?next=%2Fapp%2Forders%3Fpage%3D2`. Shows the
 * sandbox's `URL` and `URLSearchParams` building a URL with every part encoded.
 */
export default definePlugin({
  name: 'login-redirect',
  version: '1.0.0',
  options: z.object({
    /** Where to log in: absolute, or relative to `origin`. */
    login: z.string().default('/auth'),
    origin: z.url(),
    cookie: z.string().default('session'),
  }),
  onRequest(req, ctx) {
    const { login, origin, cookie } = ctx.options;
    const cookies = (req.headers.get('cookie') ?? '').split(';').map((c) => c.trim().split('=')[0]);
    if (cookies.includes(cookie)) return;
    const target = new URL(login, origin);
    target.searchParams.set('next', req.query ? `${req.path}?${req.query}` : req.path);
    return { status: 302, headers: { location: target.href, 'cache-control': 'no-store' } };
  },
});
