# The image the chart runs (ghcr.io/redline-dev/redline): a static redline
# binary on distroless, as the nonroot user (65532) the chart's security
# context expects. Build: docker build --build-arg VERSION=$(git describe --tags --always) .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/redline-dev/redline/cmd/redline/app.Version=${VERSION}" \
      -o /out/redline ./cmd/redline

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/redline /redline
USER 65532:65532
ENTRYPOINT ["/redline"]
