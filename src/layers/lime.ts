// LiME images (Linux Memory Extractor, `format=lime`): a sequence of ranges, each a
// 32-byte header followed by the range's bytes.
//
// Header, "LiME Memory Range Header Version 1 Specification",
// https://github.com/504ensicsLabs/LiME/blob/master/doc/README.md#Spec (packed, little-endian):
//   u32 magic     0x4C694D45 ("EMiL" on disk)
//   u32 version   1
//   u64 s_addr    first physical address of the range
//   u64 e_addr    last physical address of the range, INCLUSIVE: LiME's src/main.c
//                 writes `header.e_addr = res->end` from the kernel's struct resource,
//                 whose `end` is the last byte; the range holds e_addr - s_addr + 1 bytes.
//   u8  reserved[8]  "currently all zeros" (not checked: the spec reserves, not requires)
import { MAX_PHYS_ADDR, hex } from '../addr.js';
import { ImageFormatError } from '../errors.js';
import type { FileSource } from './file-source.js';
import { type RunBytes, type RunSpec, type WrittenImage, checkRunSpecs, withSink } from './image-writer.js';
import { type ParsedImage, type PhysicalRun, type RunCandidate, checkRuns } from './physical.js';

export const LIME_MAGIC = 0x4c694d45;
export const LIME_VERSION = 1;
export const LIME_HEADER_SIZE = 32;

/** True when the file starts with a LiME range header's magic. */
export function looksLikeLime(head: Uint8Array): boolean {
  return head.length >= 4 && new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === LIME_MAGIC;
}

export function parseLime(src: FileSource): ParsedImage {
  const { path, size } = src;
  if (size === 0) throw new ImageFormatError(path, 0, 'empty file');
  const candidates: RunCandidate[] = [];
  let offset = 0;
  // Each pass consumes a header and at least one data byte, so this ends.
  while (offset < size) {
    const index = candidates.length;
    const label = `LiME range #${index}`;
    const left = size - offset;
    if (left < LIME_HEADER_SIZE) {
      throw new ImageFormatError(
        path,
        offset,
        `${label}: truncated header (${left} bytes left in the file, a header has ${LIME_HEADER_SIZE})`,
      );
    }
    const header = src.read(offset, LIME_HEADER_SIZE);
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    const magic = view.getUint32(0, true);
    if (magic !== LIME_MAGIC) {
      throw new ImageFormatError(path, offset, `${label}: bad magic ${hex(magic)} (expected ${hex(LIME_MAGIC)}, "LiME")`);
    }
    const version = view.getUint32(4, true);
    if (version !== LIME_VERSION) {
      throw new ImageFormatError(path, offset, `${label}: header version ${version} is not supported (only 1 is specified)`);
    }
    const sAddr = view.getBigUint64(8, true);
    const eAddr = view.getBigUint64(16, true);
    if (eAddr < sAddr) {
      throw new ImageFormatError(path, offset, `${label}: e_addr ${hex(eAddr)} is below s_addr ${hex(sAddr)}`);
    }
    if (eAddr >= BigInt(MAX_PHYS_ADDR)) {
      throw new ImageFormatError(path, offset, `${label}: e_addr ${hex(eAddr)} passes the 52-bit physical address limit`);
    }
    const length = Number(eAddr - sAddr) + 1;
    const dataOffset = offset + LIME_HEADER_SIZE;
    if (length > size - dataOffset) {
      throw new ImageFormatError(
        path,
        offset,
        `${label}: range ${hex(sAddr)}..${hex(eAddr)} holds ${length} bytes but only ${size - dataOffset} ` +
          'follow the header (truncated image?)',
      );
    }
    candidates.push({ paddr: Number(sAddr), fileOffset: dataOffset, length, headerOffset: offset, label });
    offset = dataOffset + length;
  }
  const runs = checkRuns(path, candidates, size);
  return { format: 'lime', runs, detail: `LiME v1, ${runs.length} range${runs.length === 1 ? '' : 's'}` };
}

function limeHeader(run: RunSpec): Uint8Array {
  const header = new Uint8Array(LIME_HEADER_SIZE);
  const view = new DataView(header.buffer);
  view.setUint32(0, LIME_MAGIC, true);
  view.setUint32(4, LIME_VERSION, true);
  view.setBigUint64(8, BigInt(run.paddr), true);
  view.setBigUint64(16, BigInt(run.paddr + run.length - 1), true);
  return header;
}

/** Write a LiME image: one header plus data per run, in order. */
export function writeLimeImage(path: string, runs: readonly RunSpec[], source: RunBytes): WrittenImage {
  checkRunSpecs('writeLimeImage', runs);
  const written: PhysicalRun[] = [];
  let fileSize = 0;
  withSink(path, (sink) => {
    runs.forEach((run, i) => {
      sink.write(limeHeader(run));
      written.push({ paddr: run.paddr, fileOffset: sink.position, length: run.length });
      sink.writeRun('writeLimeImage', run, i, source);
    });
    fileSize = sink.position;
    sink.finish(fileSize);
  });
  return { path, format: 'lime', runs: written, fileSize };
}
