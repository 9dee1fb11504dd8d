# The sandbox agent's installer (the `looprail-init` container of every sandbox task).
# It runs first, copies this image's Node binary and the bundled sandbox agent
# (agent.mjs, bundled at synth from containers/sandbox-agent/main.ts) into the task's
# shared volume, and exits; the workspace container then runs them from there, read-only,
# on the agent's own image. The copy command is in the task definition
# (infra/constructs/sandboxes/tasks.ts), next to the mount path it writes to.
# ECR Public's mirror of the official image: no Docker Hub rate limit at build time.
FROM public.ecr.aws/docker/library/node:22-bookworm-slim
COPY agent.mjs /opt/looprail/agent.mjs
