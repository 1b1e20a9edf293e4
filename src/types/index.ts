// Structure layouts as data: the API the scanner, signatures, synthetic worlds
// and training use. Load any source with loadLayout(path); ask a Layout for
// offsetOf / sizeOf / typeOf / member / leaves / read / symbolAddress.
export { Layout, parsePath, type ResolvedMember } from './layout.js';
export type { BaseKind, BaseType, BitfieldStorage, EnumType, Field, LayoutData, LayoutMetadata, SymbolDef, TypeDesc, UserType } from './model.js';
export { emptyLayoutData, typeName } from './model.js';
export { leafMembers, type LeafKind, type LeafMember, type MemberOptions } from './members.js';
export { readMember, readStruct, type Decoded } from './reader.js';
export { writeMember, type Writable } from './writer.js';
export { layoutFromBytes, loadLayout, shippedKernelBtfPath, sourceKind, type LayoutSourceKind, type LoadLayoutOptions } from './load.js';
export { BtfKind, parseBtf, type BtfBlob, type BtfType } from './btf.js';
export { btfToLayout } from './btf-layout.js';
export { isfFromBytes, isfFromText, isfToText, layoutToIsf, loadIsf, type IsfExportOptions } from './isf.js';
export { validateIsf } from './isf-schema.js';
export { extractKernelBtf, findBanner, vmlinuxFromBzImage, type KernelBtf } from './kernel-image.js';
export { loadSymbolMap, parseSymbolMap, withSymbols, type SymbolMap } from './symbol-map.js';
export { formatLeaves, formatType } from './print.js';
