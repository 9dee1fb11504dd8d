import type { SandboxSpec } from '../../../core/definitions/sandbox.ts';

/**
 * How a sandbox spec maps onto a Fargate task: its size, its storage and the workspace
 * container's ulimits. Pure functions of the spec, so they are tested without a synth.
 */

/**
 * Fargate's task sizes (Linux, platform 1.4): CPU units and the memory (MiB) each allows.
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
 */
const FARGATE_SIZES: ReadonlyArray<{ cpu: number; memory: readonly number[] }> = [
  { cpu: 256, memory: [512, 1024, 2048] },
  { cpu: 512, memory: steps(1024, 4096, 1024) },
  { cpu: 1024, memory: steps(2048, 8192, 1024) },
  { cpu: 2048, memory: steps(4096, 16_384, 1024) },
  { cpu: 4096, memory: steps(8192, 30_720, 1024) },
  { cpu: 8192, memory: steps(16_384, 61_440, 4096) },
  { cpu: 16_384, memory: steps(32_768, 122_880, 8192) },
];

function steps(from: number, to: number, by: number): number[] {
  const out: number[] = [];
  for (let value = from; value <= to; value += by) out.push(value);
  return out;
}

/**
 * The smallest Fargate size with at least the spec's vCPUs and memory (`memory_mb` read as
 * MiB, as ECS counts): both round up, CPU first, so the task is never smaller than asked.
 */
export function fargateSize(agent: string, cpu: number, memoryMb: number): { cpu: number; memoryMiB: number } {
  const cpuUnits = Math.ceil(cpu * 1024 - 1e-9);
  for (const size of FARGATE_SIZES) {
    if (size.cpu < cpuUnits) continue;
    const memory = size.memory.find((mib) => mib >= memoryMb);
    if (memory !== undefined) return { cpu: size.cpu, memoryMiB: memory };
  }
  throw new Error(
    `agent ${agent}: sandbox cpu ${cpu} with memory_mb ${memoryMb} fits no Fargate task size ` +
      '(at most 16 vCPU and 122880 MiB; 16 vCPU needs 32768 MiB or more)',
  );
}

/** Fargate's ephemeral storage: 20 GiB unless asked for 21 to 200. Undefined: the default is enough. */
export function ephemeralStorageGiB(agent: string, diskMb: number): number | undefined {
  const gib = Math.ceil(diskMb / 1024);
  if (gib > 200) {
    throw new Error(`agent ${agent}: sandbox disk_mb ${diskMb} is more than Fargate's 200 GiB of task storage`);
  }
  return gib <= 20 ? undefined : Math.max(21, gib);
}

/** ECS ulimits are 32-bit integers: a file-size limit (bytes) stops just under 2 GiB. */
const MAX_ULIMIT = 2 ** 31 - 1;

/** The largest file a command may write (bytes): the sandbox's disk, as far as a ulimit can say it. */
export function fileSizeLimit(diskMb: number): number {
  return Math.min(diskMb * 1024 * 1024, MAX_ULIMIT);
}

export interface Ulimit {
  readonly name: string;
  readonly softLimit: number;
  readonly hardLimit: number;
}

/**
 * The workspace container's ulimits: nproc binds every user the agent runs commands as
 * (the kernel exempts uid 0 itself); fsize caps any one file at the disk size; no core dumps.
 */
export function workspaceUlimits(spec: Pick<SandboxSpec, 'disk_mb' | 'max_processes'>): Ulimit[] {
  const fileSize = fileSizeLimit(spec.disk_mb);
  return [
    { name: 'nproc', softLimit: spec.max_processes, hardLimit: spec.max_processes },
    { name: 'fsize', softLimit: fileSize, hardLimit: fileSize },
    { name: 'core', softLimit: 0, hardLimit: 0 },
  ];
}
