import type { BuiltinInstance, BuiltinPlugin } from '../../runtime/src/plugins/builtin-plugin.ts';
import type { GatewayRequest, GatewayResponse, Handler } from '../../runtime/src/chain/types.ts';
import { attachInstrument } from '../../runtime/src/chain/instruments.ts';
import { errorResponse, GatewayError } from '../../runtime/src/errors.ts';
import { AccessRecord, compileAccessLog } from './access-line.ts';
import { accessDestination } from './destination.ts';
import { loggingOptions, type LoggingOptions } from './options.ts';
import { compileRedaction } from './redaction.ts';
import { REQUEST_ID, requestIdPolicy } from './request-id.ts';
import { unroutedAccessLog } from './unrouted.ts';

export { REQUEST_ID } from './request-id.ts';

/**
 * Built-in `logging`: one structured access line per request, written once the response has been
 * sent (or abandoned), and a request id settled for every request — the trusted incoming one or
 * a new one — that is forwarded upstream and returned to the client.
 */
export const loggingPlugin: BuiltinPlugin<LoggingOptions> = {
  name: 'logging',
  options: loggingOptions,
  create(options, ctx): BuiltinInstance {
    const settleRequestId = requestIdPolicy(options.requestId);
    const { header, forward, respond } = options.requestId;
    const destination = accessDestination(options.file, options.level, ctx);

    // Lines still to be written by this instance: requests whose response is still streaming
    // when the routing table is retired keep the file open until they are logged.
    let pending = 0;
    let disposed = false;
    const settled = (): void => {
      if (--pending === 0 && disposed) destination.release();
    };
    const log = compileAccessLog(options, destination.write, compileRedaction(options), settled, ctx.logger);
    // Decided once: at a level the destination drops anyway, requests only get their id.
    const logging = destination.enabled;

    const identify = (req: GatewayRequest): string => {
      // A second logging instance on the same request (global and per route) keeps the first one's id.
      const earlier = req.state[REQUEST_ID];
      const id = typeof earlier === 'string' ? earlier : settleRequestId(req);
      req.state[REQUEST_ID] = id;
      if (forward) req.headers[header] = id;
      // Not forwarding must not mean passing on what the client claimed: only an id the gateway
      // kept (trusted and well-formed, so equal to the settled one) reaches the upstream.
      else if (req.headers[header] !== undefined && req.headers[header] !== id) delete req.headers[header];
      return id;
    };

    // Errors thrown down the chain become the gateway's catalogue responses; those carry the id too,
    // since a failed request is exactly the one a client quotes the id of.
    const withId = (err: GatewayError, id: string): GatewayError =>
      new GatewayError(err.key, { cause: err.cause, headers: { ...err.headers, [header]: id } });

    async function run(next: Handler, req: GatewayRequest, id: string): Promise<GatewayResponse> {
      let res: GatewayResponse;
      try {
        res = await next(req);
      } catch (err) {
        if (!respond) throw err;
        if (err instanceof GatewayError) throw withId(err, id);
        // Nobody is listening any more: the core answers that case itself.
        if (req.signal.aborted) throw err;
        // An unexpected error (a bug, not a catalogue error): answered here as the core would — the
        // error with its stack on the gateway log, a bare 500 to the client — so the 500 carries the
        // id too. Rethrowing it as a GatewayError instead would have the core log only the cause's
        // message, without the stack, as an upstream failure.
        ctx.logger.error({ err, route: req.route.name, requestId: id }, 'unhandled error in the request chain');
        return errorResponse('INTERNAL', { [header]: id });
      }
      if (respond) res.headers[header] = id;
      return res;
    }

    // The core reports no `sent` for upgrades (the socket is spliced, or the refusal written raw):
    // their line is written when the chain answers.
    async function upgrade(next: Handler, req: GatewayRequest, id: string, record: AccessRecord): Promise<GatewayResponse> {
      let res: GatewayResponse;
      try {
        res = await run(next, req, id);
      } catch (err) {
        record.finish(req, err instanceof GatewayError ? err.status : 500, 0, false);
        throw err;
      }
      record.responded(res.headers);
      record.finish(req, res.status, 0, false);
      return res;
    }

    return {
      middleware: logging
        ? (next) =>
            async function accessLog(req) {
              const id = identify(req);
              const record = new AccessRecord(log, req, id);
              pending++;
              attachInstrument(req, record);
              if (req.upgrade) return upgrade(next, req, id, record);
              const res = await run(next, req, id);
              record.responded(res.headers);
              return res;
            }
        : (next) =>
            function requestIdOnly(req) {
              return run(next, req, identify(req));
            },
      // Requests answered before routing (404, 405…), when this instance is in the global middleware;
      // their answers echo the request id too.
      unrouted: logging
        ? unroutedAccessLog({
            log,
            settleRequestId,
            maxUrlLength: ctx.config.server.limits.maxUrlLength,
            pending: () => void pending++,
            respondHeader: respond ? header : null,
          })
        : undefined,
      dispose() {
        disposed = true;
        if (pending === 0) destination.release();
      },
    };
  },
};
