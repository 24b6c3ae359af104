# syntax=docker/dockerfile:1
# The one sipws image (controller, edge, router, local): a static binary on distroless, non-root.
#   make image                          # tags sipws:<git describe>
#   docker build --build-arg VERSION=v0.1.0 -t ghcr.io/sipws/sipws:v0.1.0 .
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first so a source change reuses the download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/sipws ./cmd/sipws

# distroless/static: CA certificates, tzdata, /etc/passwd with nonroot (65532); no shell.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="sipws" \
      org.opencontainers.image.description="Kubernetes-native SIP over WebSocket ingress" \
      org.opencontainers.image.source="https://github.com/sipws/sipws" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/sipws /usr/local/bin/sipws
USER 65532:65532
# 8080 ws, 8443 wss, 9090 admin (edge/router); 8080/8081 metrics/health (controller).
EXPOSE 8080 8443 9090
ENTRYPOINT ["/usr/local/bin/sipws"]
CMD ["version"]
