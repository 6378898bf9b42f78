/**
 * Thrown by {@link env} when a required variable is missing; the gateway reports it as a config error.
 * @example
 * try { env('ISOGATE_JWT_SECRET'); } catch (e) { if (e instanceof MissingEnvError) console.error(`set ${e.variable}`); }
 */
export class MissingEnvError extends Error {
  readonly code = 'ISOGATE_ERR_CONFIG_ENV';
  readonly variable: string;
  constructor(variable: string) {
    super(`environment variable ${variable} is not set (and no default was given)`);
    this.name = 'MissingEnvError';
    this.variable = variable;
  }
}

/**
 * Read an environment variable while the config loads — the place for secrets and per-deployment
 * addresses. Without a fallback a missing or empty variable is a config error, so a gateway never
 * starts with an empty secret.
 * @example
 * import { defineConfig, env } from '@isogate/sdk';
 * export default defineConfig({
 *   routes: [{ path: '/users/*', upstream: env('USERS_URL', 'http://127.0.0.1:3001') }],
 * });
 */
export function env(name: string, fallback?: string): string {
  // Read through globalThis, not Node's `process` type: plugins import this package too, and a
  // plugin is type-checked without Node's globals (@isogate/sdk/sandbox).
  const value = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name];
  if (value !== undefined && value !== '') return value;
  if (fallback !== undefined) return fallback;
  throw new MissingEnvError(name);
}
