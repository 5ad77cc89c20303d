# syntax=docker/dockerfile:1.7
# Flexi: gateway, scheduler, web UI and the embedded engine (CPU build of llama.cpp) in one image.
#
#   docker build -t flexi .                                  CPU image (the default)
#   docker build -t flexi:cuda --build-arg FLEXI_GPU=cuda .  embedded engine on NVIDIA GPUs: adds
#       node-llama-cpp's prebuilt CUDA binaries (needs the NVIDIA container toolkit at run time:
#       `docker run --gpus all …`, or `nvidia.com/gpu` requests in Kubernetes). Most deployments
#       leave inference to Ollama/vLLM nodes and keep the CPU image.
#
# deploy/README.md explains the image; test/integration/deploy.test.ts checks that its user, port,
# entry point and health check match deploy/compose.yaml and the Kubernetes manifests.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Native addons (better-sqlite3, argon2) fall back to a source build where no prebuilt binary fits.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY web/package.json web/package.json
# Dependencies first (a layer that survives source changes); `prepare` builds later, with the sources.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 @node-rs/argon2
COPY tsconfig.json tsconfig.build.json ./
COPY scripts scripts
COPY src src
COPY web web
COPY bin bin
RUN npm run build && npm prune --omit=dev --no-audit --no-fund
ARG FLEXI_GPU=cpu
RUN if [ "$FLEXI_GPU" = "cuda" ]; then npm install --no-save --no-audit --no-fund @node-llama-cpp/linux-x64-cuda@3.21.1; fi

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    FLEXI_SERVER_HOST=0.0.0.0 \
    FLEXI_SERVER_PORT=8400 \
    # node-llama-cpp: never try to download or build llama.cpp at run time.
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
WORKDIR /app
COPY --from=build --chown=root:root /src/package.json ./package.json
COPY --from=build --chown=root:root /src/node_modules ./node_modules
COPY --from=build --chown=root:root /src/dist ./dist
COPY --from=build --chown=root:root /src/web/dist ./web/dist
COPY --from=build --chown=root:root /src/bin ./bin
# The image's files belong to root and are read-only for the process. It writes only ./data (the
# SQLite database and its generated secrets.json) and reads ./models (GGUF files of the embedded node).
RUN mkdir -p /app/data /app/models && chown node:node /app/data /app/models
USER node
VOLUME ["/app/data", "/app/models"]
EXPOSE 8400
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.FLEXI_SERVER_PORT || 8400) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Flexi stops gracefully on SIGTERM (server.shutdown_grace_ms); node runs as PID 1 and receives it.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve"]
