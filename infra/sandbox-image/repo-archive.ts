import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * `copy_in.repository.path` on AWS: the org folder's copy of a repository, packed at
 * synth into one .tar.gz (a git repository with its .git, so any ref can be checked out)
 * that the broker reads from S3 and hands to the sandbox agent.
 *
 * The archive is deterministic (sorted entries, owner 0, time 0, modes 644/755): the same
 * folder always gives the same bytes, so the asset (and the deployment) changes only
 * when the folder does. POSIX ustar, with a pax header for a path too long for it.
 */

const BLOCK = 512;
/** ustar's size field: 11 octal digits. */
const MAX_FILE_BYTES = 8 ** 11 - 1;

export interface PackedFolder {
  readonly bytes: Buffer;
  readonly files: number;
}

/** Every file, folder and symlink under `dir` (sockets, FIFOs and devices are left out). */
export function packFolder(dir: string): PackedFolder {
  const blocks: Buffer[] = [];
  let files = 0;
  const walk = (relative: string): void => {
    const names = readdirSync(join(dir, relative)).sort();
    for (const name of names) {
      const path = relative ? `${relative}/${name}` : name;
      const absolute = join(dir, path);
      const stat = lstatSync(absolute);
      if (stat.isSymbolicLink()) {
        blocks.push(...entry(path, '2', 0o777, Buffer.alloc(0), readlinkSync(absolute)));
      } else if (stat.isDirectory()) {
        blocks.push(...entry(`${path}/`, '5', 0o755, Buffer.alloc(0)));
        walk(path);
      } else if (stat.isFile()) {
        if (stat.size > MAX_FILE_BYTES) throw new Error(`${absolute} is larger than a tar archive entry can hold`);
        blocks.push(...entry(path, '0', stat.mode & 0o111 ? 0o755 : 0o644, readFileSync(absolute)));
        files++;
      }
    }
  };
  walk('');
  blocks.push(Buffer.alloc(BLOCK * 2));
  return { bytes: gzipSync(Buffer.concat(blocks), { level: 9 }), files };
}

/**
 * Packs `dir` into a .tar.gz in the temp folder, named by its content's hash (repeated
 * synths reuse it), and returns its path.
 */
export function stageFolderArchive(dir: string): string {
  const { bytes } = packFolder(dir);
  const file = join(tmpdir(), `looprail-repo-${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}.tar.gz`);
  if (existsSync(file)) return file;
  const scratch = mkdtempSync(join(tmpdir(), 'looprail-repo-staging-'));
  try {
    writeFileSync(join(scratch, 'archive.tar.gz'), bytes);
    renameSync(join(scratch, 'archive.tar.gz'), file);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return file;
}

/** One archive member: its header (a pax header first when the names do not fit ustar's fields) and its data. */
function entry(path: string, type: '0' | '2' | '5', mode: number, data: Buffer, linkTarget = ''): Buffer[] {
  const out: Buffer[] = [];
  const split = splitPath(path);
  const linkFits = Buffer.byteLength(linkTarget) <= 100;
  let name = split?.name ?? path;
  let prefix = split?.prefix ?? '';
  if (!split || !linkFits) {
    const records = [
      ...(split ? [] : [paxRecord('path', path)]),
      ...(linkFits ? [] : [paxRecord('linkpath', linkTarget)]),
    ];
    const pax = Buffer.from(records.join(''), 'utf8');
    out.push(header({ name: 'PaxHeader', type: 'x', mode: 0o644, size: pax.length }), pad(pax));
    if (!split) {
      // Readers that ignore pax still get a usable (cut) name.
      name = truncateBytes(path, 100);
      prefix = '';
    }
  }
  out.push(
    header({
      name,
      prefix,
      type,
      mode,
      size: data.length,
      linkTarget: linkFits ? linkTarget : truncateBytes(linkTarget, 100),
    }),
  );
  if (data.length > 0) out.push(pad(data));
  return out;
}

/** ustar keeps a path as prefix (≤ 155 bytes) + `/` + name (≤ 100 bytes). */
function splitPath(path: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  // A trailing slash (a folder) belongs to the name part.
  const body = path.endsWith('/') ? path.slice(0, -1) : path;
  for (let cut = body.lastIndexOf('/'); cut > 0; cut = body.lastIndexOf('/', cut - 1)) {
    const prefix = body.slice(0, cut);
    const name = path.slice(cut + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { name, prefix };
  }
  return undefined;
}

/** `<length> <key>=<value>\n`, where the length counts the whole record, itself included. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body);
  while (String(length).length + Buffer.byteLength(body) !== length)
    length = String(length).length + Buffer.byteLength(body);
  return `${length}${body}`;
}

function header(fields: {
  name: string;
  prefix?: string;
  type: string;
  mode: number;
  size: number;
  linkTarget?: string;
}): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(fields.name, 0, 100, 'utf8');
  block.write(octal(fields.mode, 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii'); // uid
  block.write(octal(0, 8), 116, 'ascii'); // gid
  block.write(octal(fields.size, 12), 124, 'ascii');
  block.write(octal(0, 12), 136, 'ascii'); // mtime
  block.write(' '.repeat(8), 148, 'ascii'); // checksum, counted as spaces
  block.write(fields.type, 156, 'ascii');
  block.write(fields.linkTarget ?? '', 157, 100, 'utf8');
  block.write('ustar\u0000', 257, 'ascii');
  block.write('00', 263, 'ascii');
  block.write(fields.prefix ?? '', 345, 155, 'utf8');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'ascii');
  return block;
}

/** A zero-padded octal number that fills `width` bytes with its NUL. */
function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\u0000`;
}

function pad(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

function truncateBytes(text: string, bytes: number): string {
  let out = text;
  while (Buffer.byteLength(out) > bytes) out = out.slice(0, -1);
  return out;
}
