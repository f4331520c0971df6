# syntax=docker/dockerfile:1
# The meshbus image: every component in one image, run as `meshbus <command>`:
#   meshbus serve destination|identity|policy|gateway|injector   (the control plane)
#   meshbus serve multicluster                                   (multicluster exports and mirrors)
#   meshbus proxy                                                (the injected sidecar)
#   meshbus proxy-init                                           (the injected init container)
# Build: docker build -t <registry>/meshbus:<version> .

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY . .
# Install scripts of dependencies stay off (none is needed: the FFI package ships its binaries).
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && npx tsc --build \
 && npm prune --omit=dev --no-audit --no-fund --ignore-scripts \
 && find . -name '*.tsbuildinfo' -delete \
 && rm -rf tests bench scripts docs examples .ci

FROM node:20-bookworm-slim
# proxy-init writes iptables rules (it runs as root with NET_ADMIN and NET_RAW only); everything else runs as a non-root user.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 2103 meshbus \
 && useradd --uid 2103 --gid 2103 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin meshbus
COPY --from=build --chown=root:root /app /app
ENV NODE_ENV=production
USER 2103:2103
ENTRYPOINT ["node", "/app/cli/dist/main.js"]
