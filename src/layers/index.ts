// Image layers: container formats → a physical layer; translators → virtual layers.
export * from './physical.js';
export { alignedBuffer, IO_ALIGNMENT } from './aligned-buffer.js';
export { FilePhysical } from './file-physical.js';
export { MemoryPhysical, type MemorySegment } from './memory-physical.js';
export { type FileSource, fdSource, bytesSource, openRegularFile, MAX_HEADER_READ } from './file-source.js';
export * from './image-writer.js';
export { parseRaw, writeRawImage } from './raw.js';
export { parseLime, writeLimeImage, looksLikeLime, LIME_MAGIC, LIME_HEADER_SIZE, LIME_VERSION } from './lime.js';
export {
  parseElfCore,
  writeElfCoreImage,
  elfNote,
  looksLikeElf,
  type ElfCoreWriteOptions,
  type ElfNoteSegment,
  type ParsedElfCore,
  ET_CORE,
  PT_LOAD,
  PT_NOTE,
  PN_XNUM,
  EM_386,
  EM_X86_64,
} from './elf-core.js';
export * from './elf-notes.js';
export * from './open-image.js';
export * from './paging-modes.js';
export * from './paging.js';
export * from './page-table-builder.js';
export * from './linear-maps.js';
export * from './virtual.js';
