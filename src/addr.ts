// Addresses are branded so that a physical address can never be passed where a
// virtual one is expected (LibVMI / MemProcFS habit: the space is in the name).
//
// Physical addresses fit in a JS number: x86-64 MAXPHYADDR is at most 52 bits
// (Intel SDM vol. 3A, 4.1.4), below 2^53. Virtual addresses are 64-bit and are
// bigint.

declare const physBrand: unique symbol;
declare const virtBrand: unique symbol;

/** A guest physical address (bytes). Always a safe non-negative integer. */
export type PhysAddr = number & { readonly [physBrand]: true };
/** A guest virtual address (64-bit, unsigned). */
export type VirtAddr = bigint & { readonly [virtBrand]: true };

/** Largest physical address x86-64 can express (52 bits). */
export const MAX_PHYS_ADDR = 2 ** 52;

export function phys(value: number | bigint): PhysAddr {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (!Number.isSafeInteger(n) || n < 0 || n >= MAX_PHYS_ADDR || (typeof value === 'bigint' && BigInt(n) !== value)) {
    throw new RangeError(`not a physical address: ${String(value)}`);
  }
  return n as PhysAddr;
}

export function virt(value: bigint | number): VirtAddr {
  const b = typeof value === 'number' ? BigInt(value) : value;
  if (b < 0n || b > 0xffff_ffff_ffff_ffffn) throw new RangeError(`not a 64-bit virtual address: ${String(value)}`);
  return b as VirtAddr;
}

/** `0x`-prefixed lower-case hex, the form truth files and JSON output use. */
export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}

/** Parse a hex (`0x…`) or decimal string into a bigint; throws RangeError on junk. */
export function parseAddress(text: string): bigint {
  const t = text.trim();
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(t)) throw new RangeError(`not an address: ${JSON.stringify(text)}`);
  return BigInt(t);
}
