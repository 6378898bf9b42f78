import { ConfigError, formatPath } from '../config/config-error.ts';
import type { PluginFactoryContext } from './builtin-plugin.ts';

/**
 * A built-in option that reads `req.claims` (a rate-limit key, a header template) needs
 * authentication earlier in the chain: listed before `auth` (or on a route without it) the claims
 * would always be missing. That is a config mistake, reported at load with the option's path and
 * the routes, not a quiet downgrade. Auth is the rule because it is the only thing that sets
 * claims (a user plugin's verifier is reached through auth too). A route's chain is the global
 * middleware, then the route's own.
 */
export function requireAuthBefore(ctx: PluginFactoryContext, optionPath: readonly PropertyKey[], what: string): void {
  const { config, instanceName } = ctx;
  const isAuth = (name: string): boolean => {
    const p = config.plugins[name];
    return p !== undefined && p.kind === 'builtin' && p.use === 'auth';
  };
  const unauthenticated: string[] = [];
  for (const route of config.routes) {
    const chain = [...config.middleware, ...route.middleware];
    const at = chain.indexOf(instanceName);
    if (at !== -1 && !chain.slice(0, at).some(isAuth)) unauthenticated.push(route.name);
  }
  if (unauthenticated.length === 0) return;
  const shown = unauthenticated.slice(0, 5).map((n) => JSON.stringify(n));
  const more = unauthenticated.length > 5 ? ` and ${unauthenticated.length - 5} more` : '';
  const routes = `${unauthenticated.length === 1 ? 'route' : 'routes'} ${shown.join(', ')}${more}`;
  throw new ConfigError([
    {
      path: formatPath(['plugins', instanceName, 'options', ...optionPath]),
      message: `${what} needs an auth instance earlier in the chain, but ${routes} run${unauthenticated.length === 1 ? 's' : ''} "${instanceName}" without one before it (claims would always be missing): list it after auth, e.g. middleware: ['auth', '${instanceName}']`,
    },
  ]);
}
