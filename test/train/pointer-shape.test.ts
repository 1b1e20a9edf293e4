// Training images of Linux 4- and 5-level paging share the 5-level pointer shape; that is
// sound only because each 5-level region contains the 4-level region of the same name.
import { describe, expect, it } from 'vitest';
import { commonShape, pointerShapeFor } from '../../src/train/pointer-shape.js';

describe('commonShape', () => {
  const l4 = pointerShapeFor('linux', 8, 4);
  const l5 = pointerShapeFor('linux', 8, 5);

  it('keeps one mode as it is and mixes Linux 4- and 5-level under the 5-level shape', () => {
    expect(commonShape([l4, l4])).toBe(l4);
    expect(commonShape([l4, l5, l4])).toEqual(l5);
    expect(commonShape([l5, l4])!.mode).toBe('x86-64-5');
  });

  it('has every 4-level region inside the 5-level region of the same name', () => {
    for (const r4 of l4.regions) {
      const r5 = l5.regions.find((r) => r.name === r4.name);
      expect(r5, r4.name).toBeDefined();
      expect(r5!.min <= r4.min && r4.max <= r5!.max, r4.name).toBe(true);
    }
  });

  it('refuses another OS or pointer width', () => {
    expect(commonShape([l4, pointerShapeFor('windows', 8, 4)])).toBeUndefined();
    expect(commonShape([pointerShapeFor('windows', 8, 4), pointerShapeFor('windows', 4, 2)])).toBeUndefined();
    expect(commonShape([])).toBeUndefined();
  });
});
