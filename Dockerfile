# Build: docker build -t parley .
# Run:   docker run -p 8080:8080 -v parley-data:/data parley
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/parley . && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/parley /usr/local/bin/parley
# Data lives in a volume owned by the nonroot user (uid 65532); a new named
# volume takes this directory's owner.
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME ["/data"]
ENV PARLEY_ADDR=0.0.0.0:8080 PARLEY_DATA=/data
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/parley"]
CMD ["serve"]
