# warren runs its TypeScript directly with Node 24's type stripping: no build step.
# BASE may name another Node 24 image (the end-to-end run builds one without a registry).
ARG BASE=node:24-bookworm-slim
FROM ${BASE}
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. An optional build secret `ca` (a CA bundle) lets npm reach the registry
# through a TLS-intercepting proxy: docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt .
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY src ./src
# The `warren` command (export, diff) on the PATH: docker run --rm IMAGE warren export --help
RUN ln -s /app/src/cli/main.ts /usr/local/bin/warren
# Numeric, so the kubelet can check runAsNonRoot; the root filesystem may be read-only (npm is not run).
USER 1000:1000
EXPOSE 8081
# Exec form: node is PID 1 and receives SIGTERM itself (src/main.ts stops cleanly on it).
CMD ["node", "src/main.ts"]
