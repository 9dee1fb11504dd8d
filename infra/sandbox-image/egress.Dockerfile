# The sandboxes' egress proxy (infra/constructs/sandboxes/egress-proxy.ts): the only way
# out for a sandbox whose network is an allowlist. egress.mjs is bundled at synth from
# containers/egress-proxy/main.ts. It runs as the image's unprivileged `node` user on a
# read-only root filesystem.
FROM public.ecr.aws/docker/library/node:22-bookworm-slim
COPY egress.mjs /opt/looprail/egress.mjs
USER node
ENTRYPOINT ["node", "/opt/looprail/egress.mjs"]
