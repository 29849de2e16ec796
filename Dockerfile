# warren runs its TypeScript directly with Node 24's type stripping: no build step.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY src ./src
USER 1000:1000
EXPOSE 8081
CMD ["node", "src/main.ts"]
