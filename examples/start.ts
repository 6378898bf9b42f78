/**
 * `npm start` / `npm run dev`: start the example upstream services, then the gateway with
 * ./gateway.config.ts on http://127.0.0.1:8080, and print how to call it.
 *
 * Ports come from the variables the config already reads: ISOGATE_PORT (8080) for the gateway,
 * and the ports of USERS_URL (3001), ORDERS_URL (3002), BILLING_URL (3003) and PREFERENCES_URL
 * (3004) for the services. Port 0 takes a free
 * port (test/e2e/lifecycle/example-curls.test.ts runs this script that way).
 */
import { createLogger, startGateway } from 'isogate';
import { formatRouteTable } from '../runtime/src/cli/route-table.ts';
import { onNpmParentExit } from '../runtime/src/cli/npm-parent-exit.ts';
import { exitOnceIdle } from '../runtime/src/cli/exit-once-idle.ts';
import { DEFAULT_SERVICE_PORTS, startExampleServices, type ServiceName } from './upstreams/services.ts';

function portOf(variable: string, fallback: number): number {
  const url = process.env[variable];
  if (!url) return fallback;
  const { port, protocol } = new URL(url);
  return port === '' ? (protocol === 'https:' ? 443 : 80) : Number(port);
}

const dev = process.argv.includes('--dev');
/** Each service's URL variable: the config reads it, and its port chooses where the service listens. */
const SERVICE_VARIABLES: Readonly<Record<ServiceName, string>> = { users: 'USERS_URL', orders: 'ORDERS_URL', billing: 'BILLING_URL', preferences: 'PREFERENCES_URL' };
const serviceNames = Object.keys(SERVICE_VARIABLES) as ServiceName[];
let services;
try {
  services = await startExampleServices(Object.fromEntries(serviceNames.map((n) => [n, portOf(SERVICE_VARIABLES[n], DEFAULT_SERVICE_PORTS[n])])) as Record<ServiceName, number>);
} catch (err) {
  console.error(`the example services could not start: ${err instanceof Error ? err.message : err} (${Object.values(SERVICE_VARIABLES).join(', ')} choose their ports)`);
  process.exit(1);
}
// Point the config at the ports the services got (they differ from the variables' when those said 0).
for (const name of serviceNames) process.env[SERVICE_VARIABLES[name]] = services[name];
const logger = createLogger({ pretty: dev });
let running;
try {
  running = await startGateway({ configPath: 'gateway.config.ts', watch: dev, logger });
} catch (err) {
  services.close();
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
const base = running.url;
// Each command stands alone on its line, its comment above it: interactive zsh (macOS) takes a
// trailing `# ...` as arguments, and an unquoted `?` as a glob.
console.log(`
Isogate is listening on ${base}  (example services: ${serviceNames.map((n) => `${n} ${services[n]}`).join(', ')})

${formatRouteTable(running.gateway.config)}

Try:
  curl -i ${base}/api/users
  curl -i ${base}/api/users/1
  curl -i -X POST ${base}/api/users -H 'content-type: application/json' -d '{"name":"Alan Turing"}'
  curl -i ${base}/api/orders/o-1
  # one call, three services (users, billing, preferences) merged into one JSON answer
  curl -s ${base}/api/v1/user-profile/1
  # what the upstream received (X-Forwarded-*, Via)
  curl -s '${base}/api/echo/anything?x=1'
  # server-sent events, streamed (one a second, ten in all)
  curl -N ${base}/api/events
  # JWT auth: the user comes from the token
  curl -i ${base}/api/me -H "authorization: Bearer $(npx isogate token --sub 1)"
  # Prometheus metrics
  curl -s ${base}/metrics | grep gateway_requests_total
  curl -i ${base}/healthz ; curl -i ${base}/readyz
${dev ? '\nWatching gateway.config.ts: edit it and the routes reload without a restart.' : '\nRun `npm run dev` to reload on config changes.'}
Ctrl-C drains in-flight requests and stops.
`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  running.stop().finally(() => {
    services.close();
    exitOnceIdle(0);
  });
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stop();
  });
}
// `npm start` runs this through `sh -c`, which dies of npm's SIGTERM without passing it on.
onNpmParentExit(stop);
