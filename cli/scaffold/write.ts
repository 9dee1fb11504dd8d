import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes a scaffold's files all or none: each to a temporary name beside its place, then all
 * renamed into place (a rename replaces a file whole). A write that fails removes the others.
 */
export async function writeAll(root: string, files: Record<string, string>): Promise<void> {
  const staged: Array<{ temp: string; path: string }> = [];
  try {
    for (const [path, text] of Object.entries(files)) {
      const absolute = join(root, path);
      await mkdir(dirname(absolute), { recursive: true });
      const temp = `${absolute}.looprail-new-${process.pid}`;
      staged.push({ temp, path: absolute });
      await writeFile(temp, text);
    }
  } catch (error) {
    await Promise.all(staged.map((each) => rm(each.temp, { force: true })));
    throw error;
  }
  for (const each of staged) await rename(each.temp, each.path);
}
