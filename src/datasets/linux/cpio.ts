// A writer for the "newc" cpio archive the kernel unpacks as its initramfs.
//
// Format (Linux Documentation/driver-api/early-userspace/buffer-format.rst): each entry is
// "070701", then 13 fields of 8 hex digits (ino, mode, uid, gid, nlink, mtime, filesize,
// devmajor, devminor, rdevmajor, rdevminor, namesize including the NUL, check = 0), the
// name and its NUL padded to a multiple of 4, the data padded to a multiple of 4. The
// archive ends with an entry named "TRAILER!!!". The kernel accepts it uncompressed.

export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer; mode?: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(fields: number[], name: string): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const text = `070701${fields.map((f) => (f >>> 0).toString(16).padStart(8, '0')).join('')}`;
  const head = Buffer.concat([Buffer.from(text, 'ascii'), nameBytes]);
  return Buffer.concat([head, Buffer.alloc(pad4(head.length))]);
}

/** The archive as one buffer (entries in the order given; parents before children). */
export function writeCpio(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    let mode: number;
    let data: Buffer = Buffer.alloc(0);
    let rdev = [0, 0];
    switch (e.kind) {
      case 'dir':
        mode = S_IFDIR | (e.mode ?? 0o755);
        break;
      case 'file':
        mode = S_IFREG | (e.mode ?? 0o644);
        data = e.data;
        break;
      case 'symlink':
        mode = S_IFLNK | 0o777;
        data = Buffer.from(e.target, 'utf8');
        break;
      case 'chardev':
        mode = S_IFCHR | (e.mode ?? 0o600);
        rdev = [e.major, e.minor];
        break;
    }
    const nlink = e.kind === 'dir' ? 2 : 1;
    const nameSize = Buffer.byteLength(name, 'utf8') + 1;
    parts.push(header([ino++, mode, 0, 0, nlink, 0, data.length, 0, 0, rdev[0]!, rdev[1]!, nameSize, 0], name));
    parts.push(data, Buffer.alloc(pad4(data.length)));
  }
  parts.push(header([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 'TRAILER!!!'.length + 1, 0], 'TRAILER!!!'));
  return Buffer.concat(parts);
}
