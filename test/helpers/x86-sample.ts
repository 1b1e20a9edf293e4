// Deterministic x86-looking bytes: function bodies full of E8 (CALL rel32) and
// E9 (JMP rel32) to a few targets, plus 0x00/0xFF bytes in odd places, so the
// x86 BCJ filter has real work (and its false-positive rules) to do.
export function x86Sample(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let s = seed >>> 0;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
  const targets = [0x100, 0x2345, 0x8000, 0x12000, size - 64];
  let p = 0;
  while (p < size) {
    const r = rnd() % 10;
    if (r < 4 && p + 5 <= size) {
      const target = targets[rnd() % targets.length]!;
      const rel = (target - (p + 5)) | 0;
      out[p] = r < 3 ? 0xe8 : 0xe9;
      new DataView(out.buffer).setInt32(p + 1, rel, true);
      p += 5;
    } else if (r < 5) {
      out[p++] = rnd() & 1 ? 0xff : 0x00;
    } else if (r < 6) {
      out[p++] = 0xe8; // a lone E8 that is not a CALL
    } else {
      const prologue = [0x55, 0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x10, 0xc3];
      out[p] = prologue[rnd() % prologue.length]!;
      p += 1;
    }
  }
  return out;
}
