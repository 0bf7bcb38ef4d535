# shelfcast container image: built with meson in a builder stage; the runtime
# stage holds only the runtime libraries, the binary, the migrations and the
# examples, and runs as a non-root user.  Configuration is by environment only
# (see README, "Configuration"): at least DATABASE_URL.
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends meson ninja-build pkg-config gcc libc6-dev \
      libmicrohttpd-dev libjansson-dev libpq-dev zlib1g-dev libopenblas-dev libcsv-dev python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# the commit `shelfcast version` and /metrics report (.git is not copied): --build-arg SHELFCAST_COMMIT=...
ARG SHELFCAST_COMMIT=unknown
RUN meson setup /build -Dbuildtype=release -Dtests=false -Dbench=false -Dcommit="$SHELFCAST_COMMIT" \
 && ninja -C /build \
 && strip /build/shelfcast \
 && /build/shelfcast version

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd12 libjansson4 libpq5 libopenblas0-pthread libcsv3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin shelfcast
COPY --from=build /build/shelfcast /usr/local/bin/shelfcast
COPY migrations /usr/share/shelfcast/migrations
COPY examples /usr/share/shelfcast/examples
USER 10001:10001
ENV SHELFCAST_LISTEN=0.0.0.0:8080 \
    OPENBLAS_NUM_THREADS=1
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/shelfcast", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/shelfcast"]
CMD ["serve"]
