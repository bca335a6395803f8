# Augur's one image for the agent and the server: the `augur` binary on
# Debian 12, built from this workspace in a first stage.
#
#   docker build -t augur:latest .
#
# The server (the default command) listens on all addresses, so ingest
# needs a token (or TLS, docs/security.md):
#
#   docker run -e AUGUR_INGEST_TOKEN=s3cret -v augur-data:/var/lib/augur \
#       -p 7080:7080 -p 7070:7070 augur:latest
#
# The agent samples the host, so it needs the host's PID namespace, root
# and four capabilities (deploy/kubernetes/augur-agent.yaml does the same):
#
#   docker run --pid=host --user=0 --cap-drop=ALL --cap-add=BPF \
#       --cap-add=PERFMON --cap-add=SYSLOG --cap-add=SYS_PTRACE \
#       -e AUGUR_INGEST_TOKEN=s3cret augur:latest agent --server http://HOST:7070

FROM rust:1-bookworm AS build
# clang and libelf compile the BPF programs (libbpf-sys builds libbpf).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        clang libelf-dev zlib1g-dev pkg-config make binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p augur \
    && objcopy --strip-debug target/release/augur /usr/local/bin/augur

FROM debian:12-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libelf1 zlib1g ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed id, so Kubernetes can check runAsNonRoot and set fsGroup.
RUN groupadd --system --gid 10001 augur \
    && useradd --system --uid 10001 --gid augur --home-dir /var/lib/augur \
        --no-create-home --shell /usr/sbin/nologin augur \
    && install -d -m 0750 -o augur -g augur /var/lib/augur
COPY --from=build /usr/local/bin/augur /usr/bin/augur
COPY deploy/debian/agent.toml /etc/augur/agent.toml
COPY docs/agent.example.toml /usr/share/doc/augur/agent.example.toml
VOLUME /var/lib/augur
# ingest (gRPC), web and API, the agent's own /metrics
EXPOSE 7070 7080 7071
USER augur
ENTRYPOINT ["/usr/bin/augur"]
CMD ["server", "--data-dir", "/var/lib/augur", "--http", "0.0.0.0:7080", "--ingest", "0.0.0.0:7070"]
