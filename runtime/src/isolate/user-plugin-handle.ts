import type { Logger } from 'pino';
import type { HookOutput } from '@isogate/sdk/internal/hook-wire';
import { emitRequestEvent, requestLogFields, startHook } from '../chain/instruments.ts';
import type { GatewayRequest } from '../chain/types.ts';
import type { UserPluginHandle, VerifierResult } from '../plugins/builtin-plugin.ts';
import { bundleLocation, type PluginBundle } from './bundle-plugin.ts';
import { PluginFailure } from './plugin-host.ts';
import type { HookTarget } from './plugin-middleware.ts';

/**
 * Forward a hook's `ctx.log` and `console` entries to the gateway's logger. A console line names
 * where the plugin logged it (`source`, its own file:line:column, from the bundle's source map).
 */
export function forwardPluginLogs(out: HookOutput, log: Logger, bundle: PluginBundle): void {
  if (!out.l) return;
  for (const [level, message, fields, where] of out.l) {
    const at = level === 'debug' || level === 'info' || level === 'warn' || level === 'error' ? level : 'info';
    if (where === undefined) {
      log[at]({ fields }, message);
      continue;
    }
    const [line, column] = where.split(':').map(Number);
    log[at]({ fields, source: bundleLocation(bundle, line!, column!) ?? bundle.entry }, message);
  }
}

/**
 * A user plugin as other plugins may use it. Today that is `verify`, the `verifier` hook the auth
 * built-in delegates to: a rejection (null, a throw inside the plugin) is an answer; a limit
 * breach, a malformed result or a failed `ctx.fetch` that escaped the hook (the identity provider
 * is unreachable: no verdict) is a PluginFailure the caller turns into a 503.
 */
export function userPluginHandle(host: HookTarget, instanceName: string, logger: Logger): UserPluginHandle {
  const log = logger.child({ plugin: instanceName });
  return {
    instanceName,
    hooks: host.manifest.hooks,
    async verify(token: string, req: GatewayRequest): Promise<VerifierResult> {
      if (!host.manifest.hooks.includes('verifier')) throw new PluginFailure(host.manifest.name, 'bad-result', 'the plugin has no verifier hook');
      const done = startHook(req, instanceName, 'verifier');
      try {
        const raw = host.call('verifier', JSON.stringify({ t: token }), '{}');
        const out = JSON.parse(typeof raw === 'string' ? raw : await raw) as HookOutput;
        forwardPluginLogs(out, log, host.bundle);
        if (out.v === undefined || out.x) throw new PluginFailure(host.manifest.name, 'bad-result', out.x ?? 'verifier answered nothing');
        if (out.u !== undefined) throw new PluginFailure(host.manifest.name, 'unavailable', `the verifier's fetch failed: ${out.u}`);
        done?.(undefined);
        if (out.v !== null) return { ok: true, claims: out.v };
        if (out.e) log.debug({ hook: 'verifier', reason: out.e }, 'verifier rejected the token');
        return { ok: false, reason: 'rejected' };
      } catch (err) {
        const kind = err instanceof PluginFailure ? err.kind : 'throw';
        done?.(kind);
        emitRequestEvent(req, { type: 'plugin-error', plugin: instanceName, hook: 'verifier', kind });
        log.error(
          { ...requestLogFields(req), hook: 'verifier', kind, error: err instanceof Error ? err.message : String(err), source: (err instanceof PluginFailure && err.location) || host.bundle.entry },
          'plugin verifier failed',
        );
        throw err instanceof PluginFailure ? err : new PluginFailure(host.manifest.name, 'throw', String(err));
      }
    },
  };
}
