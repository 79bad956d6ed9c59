# syntax=docker/dockerfile:1
#
# One Dockerfile for every tickcompact image; pick one with --target:
#
#   docker build --target aggregator -t tickcompact-aggregator .
#   docker build --target sink       -t tickcompact-sink .
#   docker build --target tradegen   -t tickcompact-tradegen .
#   docker build --target gateway    -t tickcompact-gateway .
#
# docker-compose.yml builds them the same way. Needs BuildKit (the default
# builder since Docker 23) for the cache mounts.
#
# cgo is required: confluent-kafka-go links its bundled, static librdkafka,
# which is built against glibc. The builder (golang:*-bookworm) and the
# runtime (distroless base-debian12) are both Debian 12, so the binaries run
# on the very glibc they were linked against. Both services also call glibc's
# mallopt and mallinfo2 (internal/memtune), so they need glibc, not musl.
# internal/tools/deploycheck checks all of this.

FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=1
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
# healthcheck is pure Go and built static; the services link librdkafka.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags=-s -o /out/aggregator ./cmd/aggregator && \
    go build -trimpath -ldflags=-s -o /out/sink ./cmd/sink && \
    go build -trimpath -ldflags=-s -o /out/tradegen ./cmd/tradegen && \
    CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/healthcheck ./cmd/healthcheck
# The gateway reads Redis only: pure Go, no librdkafka.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/gateway ./cmd/gateway

# runtime is what every image shares: glibc, CA certificates (for SASL_SSL
# brokers and Redis TLS), tzdata, no shell, and a non-root user.
FROM gcr.io/distroless/base-debian12:nonroot AS runtime
WORKDIR /app
# The services read configs/<service>.yaml from the working directory when it
# exists; environment variables override it.
COPY configs/ /app/configs/
COPY --from=build /out/healthcheck /usr/local/bin/healthcheck
USER 65532:65532

FROM runtime AS tradegen
COPY --from=build /out/tradegen /usr/local/bin/tradegen
# A producer with no HTTP endpoint: nothing to probe.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/tradegen"]

FROM runtime AS sink
COPY --from=build /out/sink /usr/local/bin/sink
EXPOSE 9102
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:9102/healthz"]
ENTRYPOINT ["/usr/local/bin/sink"]

# The optional WebSocket gateway and its live page (docs/websocket.md).
FROM runtime AS gateway
COPY --from=build /out/gateway /usr/local/bin/gateway
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/gateway"]

# Last, so that a plain `docker build .` gives the aggregator.
FROM runtime AS aggregator
COPY --from=build /out/aggregator /usr/local/bin/aggregator
EXPOSE 9101
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:9101/healthz"]
ENTRYPOINT ["/usr/local/bin/aggregator"]
