# Ferry in a container: one static binary in a distroless image that runs as
# a non-root user. Build:  docker build -t ferry .
# Run with PostgreSQL:      see docker-compose.yml and the README ("Docker").
#
# Ports inside the container are unprivileged, because a non-root process
# cannot bind ports below 1024 and a distroless image has no setcap to give
# the binary that capability: FTP listens on 2121 and implicit FTPS (when
# switched on) on 9990; docker-compose.yml publishes them as 21 and 990.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/ferry ./cmd/ferry \
    && mkdir -p /out/data

# distroless/static on Debian 13: CA certificates, tzdata, /etc/passwd with
# the "nonroot" user (65532), and nothing else: no shell, which is why the
# health check is a subcommand of the binary.
FROM gcr.io/distroless/static-debian13:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="Ferry" \
      org.opencontainers.image.description="Managed FTP/FTPS file exchange with partner mailboxes (SMTP, IMAP, POP3) and an admin API" \
      org.opencontainers.image.source="https://github.com/ferryhq/ferry" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/ferry /usr/local/bin/ferry
# An empty /data owned by the runtime user: a new named volume copies it,
# ownership included, so Ferry can write there.
COPY --from=build --chown=65532:65532 /out/data /data

# Ferry's defaults listen on 127.0.0.1 only; in a container every listener
# takes all interfaces, or the published ports would reach nothing
# (config/compose_test.go checks these).
ENV FERRY_DATA_DIR=/data \
    FERRY_FTP_ADDR=0.0.0.0:2121 \
    FERRY_FTP_PASSIVE_PORTS=50000-50099 \
    FERRY_HTTP_ADDR=0.0.0.0:8080 \
    FERRY_SMTP_ADDR=0.0.0.0:2525 \
    FERRY_IMAP_ADDR=0.0.0.0:1143 \
    FERRY_POP3_ADDR=0.0.0.0:1110 \
    FERRY_LOG_FORMAT=json

# FTP (explicit FTPS), implicit FTPS (FERRY_FTPS_ADDR=0.0.0.0:9990), passive
# data ports, SMTP, IMAP, POP3, admin API and health.
EXPOSE 2121 9990 50000-50099 2525 1143 1110 8080
VOLUME ["/data"]
USER 65532:65532
WORKDIR /data

# GET /healthz on FERRY_HTTP_ADDR; without an HTTP listener it waits for the
# greetings of the FTP and mail listeners instead.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/ferry", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/ferry"]
CMD ["serve"]
