# gate: a static binary on a distroless base, running as a non-root user.
#
#   docker build -t gate --build-arg VERSION=1.0.0 --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run -v ./gate.yml:/config/gate.yml:ro -p 9091:9091 gate
#
# The configuration is read from /config/gate.yml (GATE_CONFIG); mount the
# users file and secrets beside it, e.g. with GATE_SESSION_SECRET_FILE.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# Static (no cgo), no local paths, no symbol tables; version and commit stamped
# for "gate version". test/e2e builds with this same line.
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
    -o /out/gate ./cmd/gate

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="gate" \
      org.opencontainers.image.description="Forward-auth gateway for nginx, Traefik, Caddy and HAProxy" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/gate /usr/local/bin/gate
ENV GATE_CONFIG=/config/gate.yml
# 65532 is distroless's "nonroot".
USER 65532:65532
EXPOSE 9091
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/gate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gate"]
CMD ["serve"]
