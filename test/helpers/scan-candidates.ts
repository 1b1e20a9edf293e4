// Candidates of a signature's value constraints in an image, with the native
// matcher over each physical run (a stand-in for the scan engine in tests and
// measurement scripts). A hit straddling two runs is not reported.
import { type PhysAddr, phys } from '../../src/addr.js';
import type { PhysicalReader } from '../../src/layers/physical.js';
import { compileProgram, openImage as openNativeImage, scanImage } from '../../src/native/index.js';
import type { Program } from '../../src/signatures/program.js';

/** Physical addresses where every constraint of `program` holds, ascending. */
export function scanCandidates(image: PhysicalReader, program: Program, options: { maxHits?: number } = {}): PhysAddr[] {
  const compiled = compileProgram(program, 'scan-candidates');
  const native = openNativeImage(image.path);
  try {
    const out: PhysAddr[] = [];
    for (const r of image.runs) {
      const window = { start: r.fileOffset, end: r.fileOffset + r.length, limit: r.fileOffset + r.length, phase: r.paddr % program.alignment };
      const hits = scanImage(native, compiled, window, { maxHits: options.maxHits ?? 1 << 22 });
      for (const off of hits) out.push(phys(r.paddr + (off - r.fileOffset)));
    }
    return out;
  } finally {
    native.close();
  }
}
