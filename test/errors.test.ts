import { describe, expect, it } from 'vitest';
import { ImageFormatError, LayoutError, UsageError } from '../src/errors.js';
import { hex, parseAddress, phys, virt } from '../src/addr.js';

describe('errors', () => {
  it('ImageFormatError names path, offset and reason', () => {
    const e = new ImageFormatError('/img/mem.lime', 0x40, 'run length exceeds the file');
    expect(e.message).toBe('/img/mem.lime at offset 0x40: run length exceeds the file');
    expect(e.exitCode).toBe(2);
    expect(e.name).toBe('ImageFormatError');
  });
  it('LayoutError names file, type and member', () => {
    const e = new LayoutError('vmlinux.btf', 'task_struct', 'comm', 'no such member');
    expect(e.message).toBe('vmlinux.btf (task_struct.comm): no such member');
  });
  it('UsageError exits 1', () => {
    expect(new UsageError('bad').exitCode).toBe(1);
  });
});

describe('addresses', () => {
  it('phys rejects values above 52 bits and fractions', () => {
    expect(() => phys(2 ** 52)).toThrow(RangeError);
    expect(() => phys(1.5)).toThrow(RangeError);
    expect(phys(0x1000n)).toBe(0x1000);
  });
  it('virt keeps 64-bit values exact', () => {
    expect(hex(virt(0xffff8eb082c44200n))).toBe('0xffff8eb082c44200');
    expect(parseAddress('0xffff8eb082c44200')).toBe(0xffff8eb082c44200n);
    expect(() => parseAddress('0xzz')).toThrow(RangeError);
  });
});
