// Template builders for the binary noise kinds (see noise.ts). Each draws one 4 KiB page.
// Shapes follow what kernel memory holds; the facts used:
// - A list_head is two pointers; an empty one points at itself (INIT_LIST_HEAD,
//   include/linux/list.h), which is why page-relative pointers are relocated per page.
// - struct page is 64 bytes on x86-64 (mm_types.h, checked in the shipped 6.1 BTF):
//   flags, lru (list_head), mapping (low bit 1 = anon), index, private, _mapcount
//   (-1 when unmapped), _refcount, memcg_data.
// - x86-64 page-table entries: present|rw|user|accessed|dirty = 0x67 for tables, 0x25 /
//   0x8000000000000025 for read-only / NX user pages (Intel SDM vol. 3A, 4.5).
// - The real-mode interrupt vector table at physical 0: 256 far pointers (offset:segment,
//   4 bytes each); the BIOS data area follows at 0x400 (IBM PC BIOS, SeaBIOS src/ivt.h).
import type { NoiseEnv, TemplatePage } from './noise.js';
import type { Prng } from './prng.js';
import { PAGE_SIZE } from './memory-map.js';

/** What a slab cache's objects carry in their first words. */
type SlotField = 'list' | 'ptr' | 'ops' | 'refcount' | 'flags' | 'zero' | 'time' | 'int' | 'name';

const SLAB_SIZES = [32, 64, 96, 128, 192, 256, 512, 1024];
const FIELD_WEIGHTS: Record<SlotField, number> = { list: 3, ptr: 4, ops: 1, refcount: 2, flags: 1, zero: 4, time: 1, int: 2, name: 0.4 };
const FIELDS = Object.keys(FIELD_WEIGHTS) as SlotField[];
const NAME_WORDS = ['kworker', 'dm-0', 'sda1', 'eth0', 'lo', 'tmpfs', 'proc', 'ext4', 'journal', 'cgroup', 'pipe:', 'anon_inode', 'socket', 'null', 'tty1', 'pts'];

/** A page of one slab cache: fixed-size objects sharing a shape, some free. */
export function slabTemplate(rng: Prng, env: NoiseEnv, page: TemplatePage): void {
  const size = rng.pick(SLAB_SIZES);
  const ps = env.pointerSize;
  // The cache's shape: one field per pointer-sized word of the object's head.
  const words = Math.min(size / ps, 16);
  const shape: SlotField[] = [];
  for (let w = 0; w < words; ) {
    const f = FIELDS[rng.weighted(FIELDS.map((k) => FIELD_WEIGHTS[k]))]!;
    if (f === 'list' && w + 2 > words) continue;
    if (f === 'name' && w + 2 > words) continue;
    shape.push(f);
    w += f === 'list' || f === 'name' ? 2 : 1;
  }
  const ops = env.codePointer(rng);
  const count = Math.floor(PAGE_SIZE / size);
  for (let o = 0; o < count; o += 1) {
    const base = o * size;
    if (rng.chance(0.15)) {
      // A free object: a free-list link (hardened: random-looking) and stale tail bytes.
      page.ptr(base + ((size / 2) & ~(ps - 1)), rng.u64());
      continue;
    }
    let at = base;
    for (const f of shape) {
      switch (f) {
        case 'list': {
          const r = rng.float();
          if (r < 0.4) {
            page.selfPtr(at, at);
            page.selfPtr(at + ps, at);
          } else if (r < 0.7 && count > 1) {
            // Linked to the same field of neighbours in this page.
            page.selfPtr(at, ((o + 1) % count) * size + (at - base));
            page.selfPtr(at + ps, ((o + count - 1) % count) * size + (at - base));
          } else {
            page.ptr(at, env.heapPointer(rng));
            page.ptr(at + ps, env.heapPointer(rng));
          }
          at += 2 * ps;
          break;
        }
        case 'ptr':
          if (rng.chance(0.8)) page.ptr(at, env.heapPointer(rng));
          at += ps;
          break;
        case 'ops':
          page.ptr(at, ops);
          at += ps;
          break;
        case 'refcount':
          page.u32(at, 1 + rng.int(4));
          if (ps === 8) page.u32(at + 4, rng.chance(0.5) ? 0 : rng.int(0x10000));
          at += ps;
          break;
        case 'flags':
          page.u32(at, (1 << rng.int(24)) | (rng.chance(0.5) ? 1 << rng.int(24) : 0));
          at += ps;
          break;
        case 'time':
          if (ps === 8) page.u64(at, BigInt(1e9 + rng.int(2e9)) * 1000n + BigInt(rng.int(1000)));
          else page.u32(at, rng.u32());
          at += ps;
          break;
        case 'int':
          page.u32(at, rng.int(rng.chance(0.7) ? 256 : 65536));
          at += ps;
          break;
        case 'name': {
          const name = rng.chance(0.02) && env.words.length > 0 ? rng.pick(env.words) : rng.pick(NAME_WORDS);
          page.ascii(at, name.slice(0, 2 * ps - 1));
          at += 2 * ps;
          break;
        }
        case 'zero':
          at += ps;
          break;
      }
    }
  }
}

/** 64 struct pages (vmemmap): flags, lru, mapping, index, private, _mapcount, _refcount. */
export function structPageTemplate(rng: Prng, env: NoiseEnv, page: TemplatePage): void {
  const spPtr = env.structPagePointer ?? env.heapPointer;
  const zoneBits = BigInt(rng.int(4)) << 62n; // node/zone bits live in the top of flags
  for (let i = 0; i < PAGE_SIZE / 64; i += 1) {
    const at = i * 64;
    const kind = rng.float();
    page.u64(at, zoneBits | BigInt((1 << rng.int(20)) | (rng.chance(0.5) ? 0x200 : 0)));
    if (kind < 0.3) {
      page.selfPtr(at + 8, at + 8); // lru empty
      page.selfPtr(at + 16, at + 8);
    } else if (kind < 0.8) {
      page.ptr(at + 8, spPtr(rng) + 8n);
      page.ptr(at + 16, spPtr(rng) + 8n);
    }
    if (kind >= 0.3) page.ptr(at + 24, env.heapPointer(rng) | (rng.chance(0.5) ? 1n : 0n));
    page.u64(at + 32, BigInt(rng.int(1 << 20)));
    page.u32(at + 48, rng.chance(0.6) ? 0xffffffff : rng.int(4)); // _mapcount
    page.u32(at + 52, rng.int(4)); // _refcount
  }
}

/** x86-ish instruction bytes: prologues, calls, moves, returns, int3/nop padding, endbr64. */
export function codeTemplate(rng: Prng, _env: NoiseEnv, page: TemplatePage): void {
  const b = page.bytes;
  let at = 0;
  const emit = (...bytes: number[]): void => {
    for (const x of bytes) if (at < PAGE_SIZE) b[at++] = x & 0xff;
  };
  while (at < PAGE_SIZE) {
    const r = rng.int(20);
    if (r === 0) emit(0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5); // endbr64; push rbp; mov rbp,rsp
    else if (r < 4) emit(0xe8, rng.u32(), rng.int(256), rng.int(16) === 0 ? 0xff : 0, 0xff); // call rel32
    else if (r < 8) emit(0x48, 0x8b, 0x40 + rng.int(64), rng.int(256)); // mov r64, [r+disp8]
    else if (r < 10) emit(0x48, 0x89, 0x40 + rng.int(64), rng.int(256));
    else if (r < 12) emit(0x85, 0xc0, 0x74 + rng.int(2), rng.int(128)); // test eax,eax; je/jne
    else if (r < 13) emit(0x5d, 0xc3, 0xcc, 0xcc); // pop rbp; ret; int3
    else if (r < 14) emit(0x0f, 0x1f, 0x44, 0x00, 0x00); // nopl
    else if (r < 16) emit(0x41, 0x50 + rng.int(8)); // push r8..r15
    else if (r < 18) emit(0xb8 + rng.int(8), rng.int(256), rng.int(16), 0, 0); // mov r32, imm32
    else emit(0x48, 0x83, 0xc4 + rng.int(4), rng.int(128)); // add/sub rsp, imm8
  }
}

/** Compressed or encrypted data: uniform bytes. */
export function entropyTemplate(rng: Prng, _env: NoiseEnv, page: TemplatePage): void {
  rng.fill(page.bytes);
}

/** Mostly zeros: a few counters, flags and pointers (per-CPU areas, bitmaps, tails of objects). */
export function sparseTemplate(rng: Prng, env: NoiseEnv, page: TemplatePage): void {
  const n = 4 + rng.int(40);
  for (let i = 0; i < n; i += 1) {
    const at = rng.int(PAGE_SIZE / 8) * 8;
    const r = rng.float();
    if (r < 0.5) page.u32(at, rng.int(r < 0.3 ? 16 : 4096));
    else if (r < 0.7) page.ptr(at, env.heapPointer(rng));
    else if (r < 0.8) page.selfPtr(at, at);
    else if (r < 0.9) page.u64(at, (1n << BigInt(rng.int(64))) | (1n << BigInt(rng.int(64))));
    else page.u32(at, 0xffffffff);
  }
}

/** A user page table: clusters of present PTEs around zero runs. */
export function pageTableTemplate(rng: Prng, env: NoiseEnv, page: TemplatePage): void {
  let i = rng.int(64);
  const frames = Math.max(1, env.pageCount);
  while (i < 512) {
    const run = 1 + rng.int(48);
    let pfn = rng.int(frames);
    const flags = rng.pick([0x67n, 0x25n, 0x8000000000000025n, 0x8000000000000067n, 0x867n]);
    for (let k = 0; k < run && i < 512; k += 1, i += 1) {
      if (rng.chance(0.9)) page.u64(i * 8, (BigInt(pfn) << 12n) | flags);
      pfn = rng.chance(0.7) ? pfn + 1 : rng.int(frames);
    }
    i += rng.int(128);
  }
}

/** Page 0 of a PC: the real-mode IVT (SeaBIOS handlers in segment 0xf000) and the BDA. */
export function lowMemoryTemplate(rng: Prng, _env: NoiseEnv, page: TemplatePage): void {
  for (let v = 0; v < 256; v += 1) {
    page.u16(v * 4, v < 0x20 ? 0xe000 + rng.int(0x1000) : 0xff53); // 0xff53: SeaBIOS's default iret stub
    page.u16(v * 4 + 2, 0xf000);
  }
  // BIOS data area: COM1 at 0x3f8, equipment word, memory size 639 KiB, EBDA segment 0x9fc0.
  page.u16(0x400, 0x3f8);
  page.u16(0x40e, 0x9fc0);
  page.u16(0x410, 0x0027);
  page.u16(0x413, 639);
}

/** Option ROM / BIOS flash: code with ASCII identification strings. */
export function firmwareTemplate(rng: Prng, env: NoiseEnv, page: TemplatePage): void {
  codeTemplate(rng, env, page);
  if (rng.chance(0.3)) page.ascii(rng.int(PAGE_SIZE / 16) * 16, rng.pick(['SeaBIOS (version 1.16.2-debian-1.16.2-1)', '$PnP', 'PCIR', 'iPXE', '_SM_', '_DMI_', 'RSD PTR ']));
}
