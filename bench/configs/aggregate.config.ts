// Isogate's aggregated route: one client request, three backend GETs to the bench upstream at
// once, each JSON answer grouped under a key and merged (what bench/aggregate-floor.ts does by hand).
import { defineConfig } from '@isogate/sdk';

const upstream = process.env.BENCH_UPSTREAM!;

export default defineConfig({
  server: { host: '127.0.0.1', port: 0, limits: { upstreamConnections: 192 } },
  routes: [
    {
      path: '/*',
      methods: ['GET'],
      backends: [
        { url: `${upstream}/a`, group: 'a' },
        { url: `${upstream}/b`, group: 'b' },
        { url: `${upstream}/c`, group: 'c' },
      ],
    },
  ],
});
