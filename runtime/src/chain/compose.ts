import type { Handler, Middleware } from './types.ts';

const NEXT_CALLED = Symbol('isogate.nextCalled');
/** Layers past the 31st (a chain that long is rare) are tracked in a Set. */
const NEXT_CALLED_MANY = Symbol('isogate.nextCalledMany');

export class NextCalledTwiceError extends Error {
  constructor(layer: string) {
    super(`middleware "${layer}" called next() more than once for one request`);
    this.name = 'NextCalledTwiceError';
  }
}

/**
 * Build a route's chain once, at config resolution: `layers[0]` runs first, `terminal` (the proxy)
 * last. Each layer's `next` refuses to run twice for the same request, so a middleware cannot send
 * a request upstream twice by mistake. With no layers the terminal is returned as is: an empty
 * chain costs nothing per request.
 */
export function compose(layers: readonly { name: string; middleware: Middleware }[], terminal: Handler): Handler {
  let handler = terminal;
  for (let i = layers.length - 1; i >= 0; i--) {
    const { name, middleware } = layers[i]!;
    const inner = handler;
    // One bit per layer in a small integer: no allocation per request.
    const bit = i < 31 ? 1 << i : 0;
    const guardedNext: Handler = (req) => {
      // state is shared even when a middleware passes a copy of the request to next().
      if (bit !== 0) {
        const mask = (req.state[NEXT_CALLED] as number | undefined) ?? 0;
        if ((mask & bit) !== 0) return Promise.reject(new NextCalledTwiceError(name));
        req.state[NEXT_CALLED] = mask | bit;
      } else {
        const called = (req.state[NEXT_CALLED_MANY] as Set<number> | undefined) ?? new Set<number>();
        if (called.has(i)) return Promise.reject(new NextCalledTwiceError(name));
        called.add(i);
        req.state[NEXT_CALLED_MANY] = called;
      }
      return inner(req);
    };
    handler = middleware(guardedNext);
  }
  return handler;
}
