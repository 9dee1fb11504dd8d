import { describe, expect, it } from 'vitest';
import {
  ephemeralStorageGiB,
  fargateSize,
  fileSizeLimit,
  workspaceUlimits,
} from '../../infra/constructs/sandboxes/sizing.ts';

/** How a sandbox spec maps onto a Fargate task, without a synth (the stack's use: test/infra/sandboxes.test.ts). */

describe('Fargate task size', () => {
  it('rounds cpu and memory up to the smallest Fargate size that holds both', () => {
    expect(fargateSize('a', 0.25, 64)).toEqual({ cpu: 256, memoryMiB: 512 });
    expect(fargateSize('a', 0.25, 2048)).toEqual({ cpu: 256, memoryMiB: 2048 });
    // 0.25 vCPU allows at most 2 GiB: the CPU rounds up until the memory fits.
    expect(fargateSize('a', 0.25, 2049)).toEqual({ cpu: 512, memoryMiB: 3072 });
    expect(fargateSize('a', 0.3, 512)).toEqual({ cpu: 512, memoryMiB: 1024 });
    expect(fargateSize('a', 1, 512)).toEqual({ cpu: 1024, memoryMiB: 2048 });
    expect(fargateSize('a', 1, 1024)).toEqual({ cpu: 1024, memoryMiB: 2048 });
    expect(fargateSize('a', 0.5, 3000)).toEqual({ cpu: 512, memoryMiB: 3072 });
    expect(fargateSize('a', 2, 20_000)).toEqual({ cpu: 4096, memoryMiB: 20_480 });
    expect(fargateSize('a', 8, 16_385)).toEqual({ cpu: 8192, memoryMiB: 20_480 });
    expect(fargateSize('a', 16, 65_536)).toEqual({ cpu: 16_384, memoryMiB: 65_536 });
    expect(fargateSize('a', 0.25, 65_536)).toEqual({ cpu: 16_384, memoryMiB: 65_536 });
  });

  it('names the agent when no Fargate size fits', () => {
    expect(() => fargateSize('huge', 16, 130_000)).toThrow(
      /^agent huge: sandbox cpu 16 with memory_mb 130000 fits no Fargate task size/,
    );
    expect(() => fargateSize('wide', 32, 1024)).toThrow(/^agent wide: sandbox cpu 32/);
  });

  it("asks for ephemeral storage above Fargate's 20 GiB only, up to 200 GiB", () => {
    expect(ephemeralStorageGiB('a', 64)).toBeUndefined();
    expect(ephemeralStorageGiB('a', 20 * 1024)).toBeUndefined();
    expect(ephemeralStorageGiB('a', 20 * 1024 + 1)).toBe(21);
    expect(ephemeralStorageGiB('a', 30_000)).toBe(30);
    expect(ephemeralStorageGiB('a', 204_800)).toBe(200);
    expect(() => ephemeralStorageGiB('disky', 204_801)).toThrow(
      /^agent disky: sandbox disk_mb 204801 is more than Fargate's 200 GiB/,
    );
  });
});

describe('workspace limits', () => {
  it('caps a file at the disk size, in bytes, as far as a 32-bit ulimit goes', () => {
    expect(fileSizeLimit(64)).toBe(64 * 1024 * 1024);
    expect(fileSizeLimit(2047)).toBe(2047 * 1024 * 1024);
    expect(fileSizeLimit(2048)).toBe(2 ** 31 - 1);
    expect(fileSizeLimit(30_000)).toBe(2 ** 31 - 1);
  });

  it('limits processes and file size from the spec, and allows no core dumps', () => {
    expect(workspaceUlimits({ disk_mb: 64, max_processes: 128 })).toEqual([
      { name: 'nproc', softLimit: 128, hardLimit: 128 },
      { name: 'fsize', softLimit: 64 * 1024 * 1024, hardLimit: 64 * 1024 * 1024 },
      { name: 'core', softLimit: 0, hardLimit: 0 },
    ]);
    expect(workspaceUlimits({ disk_mb: 30_000, max_processes: 16 })[1]).toEqual({
      name: 'fsize',
      softLimit: 2 ** 31 - 1,
      hardLimit: 2 ** 31 - 1,
    });
  });
});
