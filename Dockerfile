# Image of the switchboard CLI: every component (coordinator, collector, notifier, gateway,
# demo-service) is a subcommand. Build: docker build -t switchboard .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY schemas ./schemas
COPY src ./src
COPY web ./web
# Generates the schema types, compiles src/ to dist/ and bundles the console page into dist/web
# (bench/ is not part of the image).
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/schemas ./schemas
COPY bin ./bin
RUN ln -s /app/bin/switchboard.js /usr/local/bin/switchboard
USER node
ENTRYPOINT ["node", "--max-semi-space-size=4", "/app/bin/switchboard.js"]
CMD ["--help"]
