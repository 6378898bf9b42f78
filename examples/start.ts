/**
 * `npm start` / `npm run dev`: start the example upstream services, then the gateway with
 * ./gateway.config.ts on http://127.0.0.1:8080, and print how to call it.
 */
import { createLogger, startGateway } from 'isogate';
import { formatRouteTable } from '../runtime/src/cli/route-table.ts';
import { startExampleServices } from './upstreams/services.ts';

const dev = process.argv.includes('--dev');
const services = await startExampleServices();
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
console.log(`
Isogate is listening on ${base}  (example services: users ${services.users}, orders ${services.orders})

${formatRouteTable(running.gateway.config)}

Try:
  curl -i ${base}/api/users
  curl -i ${base}/api/users/1
  curl -i -X POST ${base}/api/users -H 'content-type: application/json' -d '{"name":"Alan Turing"}'
  curl -i ${base}/api/orders/o-1
  curl -s ${base}/api/echo/anything?x=1        # what the upstream received (X-Forwarded-*, Via)
  curl -N ${base}/api/events                   # server-sent events, streamed
  curl -i ${base}/api/me -H "authorization: Bearer $(npx isogate token --sub 1)"   # JWT auth: the user comes from the token
  curl -s ${base}/metrics | grep gateway_requests_total                          # Prometheus metrics
  curl -i ${base}/healthz ; curl -i ${base}/readyz
${dev ? '\nWatching gateway.config.ts: edit it and the routes reload without a restart.' : '\nRun `npm run dev` to reload on config changes.'}
Ctrl-C drains in-flight requests and stops.
`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    running.stop().finally(() => {
      services.close();
      process.exit(0);
    });
  });
}
