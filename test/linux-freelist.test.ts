// The SLUB free-pointer key by consensus (src/os/linux/freelist.ts): hardened
// pointers (mm/slub.c freelist_ptr: next ^ s->random ^ swab(address)), plain ones,
// the slot stride, and when there is not enough evidence.
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { phys } from '../src/addr.js';
import { decodeFreePointer, findFreelistKey, plausibleNext, slotStride, swab64, type SlotBytes } from '../src/os/linux/freelist.js';

const POB = 0xffff_8880_0000_0000n;
const STRIDE = 8448;
const OFFSET = 4192;
const WINDOW = { from: 3104, to: 4904 };

function slot(pa: number, word: bigint): SlotBytes {
  const bytes = new Uint8Array(8448);
  new DataView(bytes.buffer).setBigUint64(OFFSET, word, true);
  // Something that is not zero elsewhere, like a real task.
  bytes.fill(0x5a, 0, 64);
  return { pa: phys(pa), bytes };
}

function hardened(pa: number, next: bigint, key: bigint): SlotBytes {
  return slot(pa, next ^ key ^ swab64(POB + BigInt(pa) + BigInt(OFFSET)));
}

describe('SLUB free pointers', () => {
  it('swab64 reverses the bytes', () => {
    expect(swab64(0x0102_0304_0506_0708n)).toBe(0x0807_0605_0403_0201n);
    expect(swab64(0n)).toBe(0n);
  });

  test.prop([fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })])('swab64 is an involution', (v) => {
    expect(swab64(swab64(v))).toBe(v);
  });

  it('tells the slot stride from how candidates sit in 32 KiB blocks', () => {
    expect(slotStride([0x100000, 0x102100, 0x104200, 0x108000, 0x10a100], 64)).toBe(STRIDE);
    expect(slotStride([0x100000, 0x108000], 64)).toBeUndefined();
  });

  it('finds the key from freed slots, some ending their freelist, some pointing to a neighbour', () => {
    const key = 0x9c5e_d4cd_3434_d3d1n;
    const slots = [
      hardened(0x200000, 0n, key),
      hardened(0x202100, POB + 0x200000n, key),
      hardened(0x204200, POB + 0x202100n, key),
      // Live tasks: zero at the offset, and one with a stray value.
      slot(0x300000, 0n),
      slot(0x302100, 0x1234n),
    ];
    const found = findFreelistKey({ slots, pageOffsetBase: POB, alignment: 64, window: WINDOW });
    expect(found).toMatchObject({ offset: OFFSET, key, stride: STRIDE, support: 3 });
    expect(decodeFreePointer(slots[1]!.bytes, POB + 0x202100n, OFFSET, key)).toBe(POB + 0x200000n);
    expect(decodeFreePointer(slots[4]!.bytes, POB + 0x302100n, OFFSET, key)).not.toBe(0n);
  });

  it('finds the key when no freed slot ends its list (hypotheses through same-slab slots)', () => {
    const key = 0x1111_2222_3333_4444n;
    const slots = [hardened(0x200000, POB + 0x202100n, key), hardened(0x202100, POB + 0x204200n, key), hardened(0x204200, POB + 0x200000n, key)];
    expect(findFreelistKey({ slots, pageOffsetBase: POB, alignment: 64, window: WINDOW })).toMatchObject({ key, support: 3, offset: OFFSET });
  });

  it('recognises a kernel without CONFIG_SLAB_FREELIST_HARDENED (plain next pointers)', () => {
    const slots = [slot(0x200000, 0n), slot(0x202100, POB + 0x200000n), slot(0x204200, POB + 0x202100n)];
    const found = findFreelistKey({ slots, pageOffsetBase: POB, alignment: 64, window: WINDOW });
    expect(found?.key).toBeUndefined();
    expect(found).toMatchObject({ offset: OFFSET, support: 2 });
  });

  it('gives no key from a single freed slot', () => {
    const slots = [hardened(0x200000, 0n, 0xabcdn), slot(0x300000, 0n), slot(0x302100, 0n)];
    expect(findFreelistKey({ slots, pageOffsetBase: POB, alignment: 64, window: WINDOW })).toBeUndefined();
  });

  it('accepts only NULL or another slot of the same 32 KiB block as a next pointer', () => {
    expect(plausibleNext(0n, 0x200000, POB, STRIDE, 64)).toBe(true);
    expect(plausibleNext(POB + 0x204200n, 0x200000, POB, STRIDE, 64)).toBe(true);
    expect(plausibleNext(POB + 0x200000n, 0x200000, POB, STRIDE, 64)).toBe(false); // itself
    expect(plausibleNext(POB + 0x208000n, 0x200000, POB, STRIDE, 64)).toBe(false); // another block
    expect(plausibleNext(POB + 0x200040n, 0x200000, POB, STRIDE, 64)).toBe(false); // not a slot start
    expect(plausibleNext(0x1234n, 0x200000, POB, STRIDE, 64)).toBe(false); // below the direct map
  });
});
