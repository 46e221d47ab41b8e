# Container image of nomad-idle-monitor (runs as the Nomad system job in nomad/).
#
#   DOCKER_BUILDKIT=1 docker build -t nomad-idle-monitor:0.1.0 .
#
# NODE_IMAGE pins the Node 20 base by digest; any Node 20 image on glibc with npm and
# /bin/sh works (--build-arg NODE_IMAGE=<ref>). Behind a TLS-intercepting proxy, give npm
# the proxy's CA as a BuildKit secret, which never lands in a layer:
#
#   DOCKER_BUILDKIT=1 docker build --secret id=ca,src=/path/to/ca.pem -t nomad-idle-monitor:0.1.0 .
#
# No `# syntax=` line on purpose: it would make BuildKit pull a frontend image; the built-in
# frontend of Docker >= 20.10 understands RUN --mount.

ARG NODE_IMAGE=node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

# Production dependencies only (none has an install script).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=ca,required=false \
    if [ -f /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    npm ci --omit=dev --no-audit --no-fund

# Compile TypeScript with the full (dev) dependency set. --ignore-scripts: the only install scripts in
# the tree build optional native add-ons (ssh2's crypto binding, cpu-features) of dockerode, which only
# the tests load.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=ca,required=false \
    if [ -f /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && test -f dist/main.js && chmod +x dist/cli.js

# tini as PID 1 forwards SIGTERM to Node and reaps zombies. The official Debian-based Node
# images lack it and get Debian's package; a base that already carries /usr/bin/tini-static
# (Debian's docker.io depends on tini, so a locally assembled base can copy the host's) is
# used as is. The static build runs on any base.
FROM ${NODE_IMAGE} AS init
RUN if [ ! -x /usr/bin/tini-static ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends tini \
      && rm -rf /var/lib/apt/lists/*; \
    fi

FROM ${NODE_IMAGE}
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="nomad-idle-monitor" \
      org.opencontainers.image.description="Stops idle HashiCorp Nomad jobs: watches allocations, samples their containers' network traffic, stops or scales down what nobody uses." \
      org.opencontainers.image.licenses="MPL-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
# --max-semi-space-size=1 (MB): V8's young generation otherwise grows to 16 MB during the first
# cycle's burst of inspects and keeps it; with it the sampler's RSS at 1,000 containers is ~9 MB lower,
# at no measurable CPU cost (bench/README.md). The bench runs its sampler process with the same flag.
ENV NODE_ENV=production \
    NODE_OPTIONS="--enable-source-maps --max-semi-space-size=1"
WORKDIR /app
COPY --from=init /usr/bin/tini-static /usr/bin/tini
COPY --from=deps /app/node_modules ./node_modules
# package.json carries "type": "module", which Node needs to load dist/ as ES modules.
COPY package.json ./
COPY --from=build /app/dist ./dist
# The operator's CLI on PATH, for `nomad alloc exec -task monitor -job idle-monitor nomad-idle-monitor status`.
# Node resolves the link to /app/dist/cli.js, so /app/package.json ("type": "module") and node_modules apply.
RUN ln -s /app/dist/cli.js /usr/local/bin/nomad-idle-monitor
# Root inside the container: the Docker socket is root:docker 0660 on the host, and the
# docker group's ID differs between hosts. The job spec drops every capability and makes
# the root filesystem read-only.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/main.js"]
