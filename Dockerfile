# warren's image: the TypeScript compiled to JavaScript (so Node does not strip types at run time,
# 30 MB less memory), production dependencies only, non-root, node as PID 1.
# BASE may name another Node 24 image (the end-to-end run builds one without a registry).
ARG BASE=node:24-bookworm-slim

FROM ${BASE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
# An optional build secret `ca` (a CA bundle) lets npm reach the registry through a
# TLS-intercepting proxy: docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt .
# Only the compiler is installed here, at the version the lock file pins; types are checked in CI.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    npm install --prefix /opt/tsc --no-audit --no-fund --ignore-scripts \
      "typescript@$(node -p "require('./package-lock.json').packages['node_modules/typescript'].version")"
COPY src ./src
# package.json's "type": "module" makes the output ES modules.
RUN /opt/tsc/node_modules/.bin/tsc -p tsconfig.build.json

FROM ${BASE}
ENV NODE_ENV=production
# A small young generation: the heap stays near what is live instead of growing during a burst.
ENV NODE_OPTIONS=--max-semi-space-size=2
# glibc gives each thread that allocates its own malloc arena; V8's worker threads then leave
# freed memory scattered over many arenas, and RSS grows far past the heap. Two arenas suffice.
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The `warren` command (export, diff) on the PATH: docker run --rm IMAGE warren export --help
RUN chmod +x /app/dist/cli/main.js && ln -s /app/dist/cli/main.js /usr/local/bin/warren
# Numeric, so the kubelet can check runAsNonRoot; the root filesystem may be read-only (npm is not run).
USER 1000:1000
EXPOSE 8081
# Exec form: node is PID 1 and receives SIGTERM itself (main.js stops cleanly on it).
# --optimize-for-size (a V8 flag NODE_OPTIONS does not take): ~15 MB less peak RSS for ~15% more CPU.
# It also makes every full collection a memory-reducing one, after which V8 lets the old generation
# grow by only 10% before the next: at idle a survey's few MB then start a full collection every
# one to three intervals. --heap-growing-percent=30 is the growth V8 allows under that flag
# otherwise (see docs/performance.md).
# No background compiler threads: those parked in a compile job can deadlock process.exit
# (nodejs/node#54918); compiling on the main thread cost no measurable CPU in the bench.
CMD ["node", "--optimize-for-size", "--heap-growing-percent=30", "--no-concurrent-recompilation", "--no-concurrent-sparkplug", "dist/main.js"]
