// What the trainer tests: every leaf member of the target type at its own width, and
// byte by byte inside strings (char arrays), unexpanded arrays and members of odd
// sizes (by 8-byte words inside buffers longer than BYTE_LEVEL_MAX). Union alternatives that cover the same bytes at the same width are one slot
// (the first path names it, the others are kept as aliases). Only bytes inside the
// object are used: on Linux the slab object is arch_task_struct_size (8392 bytes on the
// training kernel), shorter than sizeof(task_struct) (9792): the FPU state at the end
// is sized at boot, and bytes past the object belong to the next slab object.
import type { LeafMember } from '../types/members.js';
import type { Layout } from '../types/layout.js';
import type { Width } from '../signatures/program.js';

export interface Slot {
  /** Layout path (`tasks.next`, `comm`). */
  path: string;
  /** Byte inside the member (byte-level slots); undefined = the member itself. */
  byte?: number;
  /** Offset from the object's start. */
  offset: number;
  width: Width;
  leaf: LeafMember;
  /** Other member paths at the same bytes (union alternatives). */
  aliases: string[];
  /** A pointer-typed member, or an integer as wide as a pointer (may hold one). */
  pointerWidth: boolean;
}

/** A char array: candidate for a printable-name constraint. */
export interface StringField {
  path: string;
  offset: number;
  size: number;
  leaf: LeafMember;
}

export interface SlotSet {
  slots: Slot[];
  strings: StringField[];
  /** Leaves left out because they run past the object. */
  pastObject: number;
}

/** Readable name of a slot: `comm[3]` for byte 3 of comm, else the path. */
export function slotName(s: { path: string; byte?: number }): string {
  return s.byte === undefined ? s.path : `${s.path}+${s.byte}`;
}

/** Char arrays and unexpanded arrays up to this many bytes are tested byte by byte. */
export const BYTE_LEVEL_MAX = 256;

const NUMERIC_KINDS = new Set(['int', 'char', 'bool', 'enum', 'pointer', 'bitfield', 'float']);

export function slotsOf(layout: Layout, type: string, objectSize: number): SlotSet {
  const byKey = new Map<string, Slot>();
  const strings: StringField[] = [];
  let pastObject = 0;
  const add = (leaf: LeafMember, offset: number, width: Width, byte: number | undefined): void => {
    const key = `${offset}:${width}`;
    const hit = byKey.get(key);
    if (hit) {
      if (hit.path !== leaf.path && !hit.aliases.includes(leaf.path)) hit.aliases.push(leaf.path);
      return;
    }
    const slot: Slot = {
      path: leaf.path,
      offset,
      width,
      leaf,
      aliases: [],
      pointerWidth: width === layout.pointerSize && (leaf.kind === 'pointer' || leaf.kind === 'int'),
    };
    if (byte !== undefined) slot.byte = byte;
    byKey.set(key, slot);
  };
  for (const leaf of layout.leaves(type)) {
    if (leaf.offset >= objectSize) {
      pastObject += 1;
      continue;
    }
    const end = Math.min(leaf.offset + leaf.size, objectSize);
    const size = leaf.size;
    if (leaf.kind === 'string' && leaf.offset + size <= objectSize) strings.push({ path: leaf.path, offset: leaf.offset, size, leaf });
    if (NUMERIC_KINDS.has(leaf.kind) && (size === 1 || size === 2 || size === 4 || size === 8) && leaf.offset + size <= objectSize) {
      add(leaf, leaf.offset, size, undefined);
      continue;
    }
    if (leaf.kind === 'void') continue;
    // Strings, unexpanded arrays and odd sizes: one slot per byte inside the object;
    // buffers past BYTE_LEVEL_MAX bytes (an FPU save area) by 8-byte words instead.
    const step = end - leaf.offset > BYTE_LEVEL_MAX ? 8 : 1;
    for (let at = leaf.offset; at < end; at += step) {
      if (step === 8 && at + 8 <= end) add(leaf, at, 8, at - leaf.offset);
      else for (let b = at; b < Math.min(at + step, end); b += 1) add(leaf, b, 1, b - leaf.offset);
    }
  }
  const slots = [...byKey.values()].sort((a, b) => a.offset - b.offset || b.width - a.width);
  return { slots, strings, pastObject };
}
