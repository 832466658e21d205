# Sluice on a distroless base, in two shapes from one build stage:
#   runtime         (default) the compiled executable; `deno compile` downloads Deno's runtime
#                   from Deno's release host, so this target needs that host to be reachable
#   runtime-bundle  the same stamped bundle run by the build stage's own deno binary; needs only
#                   the npm registry (for `deno install` and esbuild), so it builds on hosts
#                   limited to package registries
#   docker build --build-arg SLUICE_COMMIT=$(git rev-parse --short=12 HEAD) -t sluice:local .
#   docker build --target runtime-bundle --build-arg SLUICE_COMMIT=… -t sluice:local .
# No `# syntax=` line: nothing here needs a newer Dockerfile frontend, and BuildKit would pull
# the frontend image for it. Stage order matters for the classic builder (DOCKER_BUILDKIT=0),
# which builds every stage up to --target: runtime-bundle comes before the compile stage so it
# never runs `deno compile`.

FROM denoland/deno:2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock ./
RUN deno install --frozen || deno install
COPY . .
ARG SLUICE_COMMIT=unknown
ENV SLUICE_COMMIT=${SLUICE_COMMIT} NO_COLOR=1
# One stamped file (scripts/_build.ts): `sluice version` reports SLUICE_COMMIT and build time.
RUN deno task bundle && mkdir -p /out/data && cp dist/sluice.js /out/sluice.js \
 && deno run -A --no-config /out/sluice.js version --json

# What both runtime shapes share: glibc and libgcc are all Deno needs; no shell, no package
# manager, a non-root user.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime-base
COPY --from=build --chown=nonroot:nonroot /out/data /var/lib/sluice
ENV SLUICE_DATA_DIR=/var/lib/sluice \
    SLUICE_LOG_FORMAT=json \
    NO_COLOR=1
WORKDIR /var/lib/sluice
USER nonroot
EXPOSE 8080 9464
CMD ["api"]

FROM runtime-base AS runtime-bundle
COPY --from=build /usr/bin/deno /usr/local/bin/deno
COPY --from=build /out/sluice.js /usr/local/lib/sluice/sluice.js
# Deno's cache (V8 code cache) goes to /tmp: the bundle imports nothing from the network.
ENV DENO_DIR=/tmp/deno DENO_NO_UPDATE_CHECK=1
ENTRYPOINT ["/usr/local/bin/deno", "run", "-A", "--no-config", "/usr/local/lib/sluice/sluice.js"]

# Compiles exactly the stamped bundle, so the binary carries the same stamp.
FROM build AS compile
RUN deno compile -A --no-config --output /out/sluice /out/sluice.js && /out/sluice version --json

FROM runtime-base AS runtime
COPY --from=compile /out/sluice /usr/local/bin/sluice
ENTRYPOINT ["/usr/local/bin/sluice"]
