# The `tidal` image: the TypeScript sources run through tsx (a runtime dependency), so the image
# needs no build step beyond `npm ci`. Used by docker-compose.yml for masters and DataNodes.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY configs ./configs
COPY tsconfig.json ./
ENTRYPOINT ["node", "bin/tidal.js"]
