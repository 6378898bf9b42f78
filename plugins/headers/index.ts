import { z } from 'zod';
import type { BuiltinPlugin } from '../../runtime/src/plugins/builtin-plugin.ts';
import type { HeaderMap, Middleware } from '../../runtime/src/chain/types.ts';

const headerName = z.string().regex(/^[!#$%&'*+.^`|~0-9A-Za-z-]+$/, 'expected an HTTP header name');
const headerValue = z.string().regex(/^[^\r\n\0]*$/, 'header values cannot contain CR, LF or NUL');
const edits = z
  .strictObject({
    set: z.record(headerName, headerValue).default({}),
    remove: z.array(headerName).default([]),
  })
  .prefault({});

const options = z.strictObject({ request: edits, response: edits });
type HeadersOptions = z.output<typeof options>;

interface CompiledEdits {
  set: [string, string][];
  remove: string[];
}

function compileEdits(e: HeadersOptions['request']): CompiledEdits | null {
  const set = Object.entries(e.set).map(([k, v]): [string, string] => [k.toLowerCase(), v]);
  const remove = e.remove.map((k) => k.toLowerCase());
  return set.length === 0 && remove.length === 0 ? null : { set, remove };
}

function apply(headers: HeaderMap, edits: CompiledEdits): HeaderMap {
  const out = { ...headers };
  for (const name of edits.remove) delete out[name];
  for (const [name, value] of edits.set) out[name] = value;
  return out;
}

/** Built-in `headers`: set or remove request headers before the upstream, response headers after. */
export const headersPlugin: BuiltinPlugin<HeadersOptions> = {
  name: 'headers',
  options,
  create(opts): Middleware {
    const request = compileEdits(opts.request);
    const response = compileEdits(opts.response);
    return (next) =>
      async function editHeaders(req) {
        if (request) req.headers = apply(req.headers, request);
        const res = await next(req);
        if (response) res.headers = apply(res.headers, response);
        return res;
      };
  },
};
