# syntax=docker/dockerfile:1
# Built from this repository: Node 24 runs the TypeScript sources directly (type stripping), so
# there is no compile stage; the first stage installs the production dependencies, the second
# holds them and the sources. isolated-vm and esbuild ship prebuilt binaries for glibc on
# linux-x64/arm64, hence Debian slim and not Alpine.
ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# Every workspace's package.json, or `npm ci` finds the lockfile out of date
# (test/e2e/deploy/dockerfile.test.ts checks the list against package-lock.json).
COPY package.json package-lock.json ./
COPY runtime/package.json runtime/
COPY sdk/package.json sdk/
COPY examples/plugin-packages/isogate-plugin-request-id/package.json examples/plugin-packages/isogate-plugin-request-id/
RUN npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY runtime ./runtime
COPY sdk ./sdk
COPY plugins ./plugins
# The example config and its plugins, the default command's config. Kubernetes mounts its own at
# /app/config (deploy/kubernetes); with Docker, mount yours over /app/gateway.config.ts.
COPY examples ./examples
COPY gateway.config.ts ./
# The example config listens where ISOGATE_HOST says: all interfaces inside a container.
ENV ISOGATE_HOST=0.0.0.0
# The image's `node` user, by number, so that Kubernetes' runAsNonRoot can verify it. The files
# above belong to root: the gateway cannot change its own code, and writes nothing at run time
# (the root filesystem can be read-only).
USER 1000:1000
EXPOSE 8080
# The node process itself is PID 1 and receives SIGTERM (npm and npx would not pass it on), drains,
# and exits 0. --no-node-snapshot: isolated-vm needs it on Node 20 and later.
ENTRYPOINT ["node", "--no-node-snapshot", "runtime/bin/isogate.mjs"]
CMD ["start", "--config", "gateway.config.ts"]
