# syntax=docker/dockerfile:1
# Isogate runs TypeScript directly with Node 24's type stripping: no compile stage, only a
# dependency stage, so the runtime image holds production dependencies and sources.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY runtime/package.json runtime/
COPY sdk/package.json sdk/
COPY examples/plugin-packages/isogate-plugin-request-id/package.json examples/plugin-packages/isogate-plugin-request-id/
# isolated-vm and esbuild ship prebuilt binaries for linux-x64/arm64 glibc (hence -slim, not alpine).
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY runtime ./runtime
COPY sdk ./sdk
COPY plugins ./plugins
# The example config and its plugins; mount your own gateway.config.ts (and plugins) over them.
COPY examples ./examples
COPY gateway.config.ts ./
# The image's own Node 24 runs the gateway; listen on all interfaces inside the container.
ENV ISOGATE_HOST=0.0.0.0
USER node
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--no-node-snapshot", "runtime/bin/isogate.mjs"]
CMD ["start", "--config", "gateway.config.ts"]
