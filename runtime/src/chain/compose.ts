import type { Handler, Middleware } from './types.ts';

const NEXT_CALLED = Symbol('isogate.nextCalled');

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
    const bit = i;
    const guardedNext: Handler = (req) => {
      // state is shared even when a middleware passes a copy of the request to next().
      const called = (req.state[NEXT_CALLED] as Set<number> | undefined) ?? new Set<number>();
      if (called.has(bit)) return Promise.reject(new NextCalledTwiceError(name));
      called.add(bit);
      req.state[NEXT_CALLED] = called;
      return inner(req);
    };
    handler = middleware(guardedNext);
  }
  return handler;
}
