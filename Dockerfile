# syntax=docker/dockerfile:1
# Sluice as one static-ish executable on a distroless base.
#   docker build --build-arg SLUICE_COMMIT=$(git rev-parse --short=12 HEAD) -t sluice:local .
# The build stage needs the internet (npm packages, esbuild, Deno's runtime for compile).

FROM denoland/deno:2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock ./
RUN deno install --frozen || deno install
COPY . .
ARG SLUICE_COMMIT=unknown
ENV SLUICE_COMMIT=${SLUICE_COMMIT} NO_COLOR=1
# Bundles main.ts with the version stamped (scripts/compile.ts), compiles it for this
# platform into /out/sluice, and writes /out/SHA256SUMS.
RUN deno run -A scripts/compile.ts --out /out && /out/sluice version --json
RUN mkdir -p /out/data

# glibc and libgcc are all a compiled Deno program needs; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/sluice /usr/local/bin/sluice
COPY --from=build --chown=nonroot:nonroot /out/data /var/lib/sluice
ENV SLUICE_DATA_DIR=/var/lib/sluice \
    SLUICE_LOG_FORMAT=json \
    NO_COLOR=1
WORKDIR /var/lib/sluice
USER nonroot
EXPOSE 8080 9464
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["api"]
