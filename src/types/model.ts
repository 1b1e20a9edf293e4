// The data a structure layout is made of, independent of where it came from
// (BTF, Volatility 3 ISF, a shipped layout pack). The shape follows Volatility 3's
// Intermediate Symbol Format (named base types, user types, enums and symbols,
// with type descriptors that refer to them by name) so that ISF import and export
// are a translation of names, not a change of model. BTF's typedef/const/volatile
// chains are resolved when a layout is built: a descriptor never names a typedef.

/** How a base type's bytes are interpreted (ISF `element_base_type.kind`). */
export type BaseKind = 'int' | 'char' | 'bool' | 'float' | 'void';

export interface BaseType {
  name: string;
  /** Bytes. `void` has size 0. */
  size: number;
  signed: boolean;
  kind: BaseKind;
}

/** A reference to a type, as a member, array element, pointer target or symbol has it. */
export type TypeDesc =
  | { kind: 'base'; name: string }
  /** `base` names the base type giving the pointer's size (ISF); default: the layout's pointer size. */
  | { kind: 'pointer'; subtype: TypeDesc; base?: string }
  /** `count` 0 is a flexible array member (C99 6.7.2.1p18). */
  | { kind: 'array'; count: number; subtype: TypeDesc }
  | { kind: 'struct' | 'union' | 'class'; name: string }
  | { kind: 'enum'; name: string }
  | { kind: 'function' }
  /**
   * A bitfield: `bitLength` bits starting `bitPosition` bits above the least
   * significant bit of the storage unit (a `type`-sized little-endian integer at
   * the member's offset). This is how Volatility 3 reads ISF bitfields.
   */
  | { kind: 'bitfield'; bitPosition: number; bitLength: number; type: BitfieldStorage };

export type BitfieldStorage = { kind: 'base'; name: string } | { kind: 'enum'; name: string };

export interface Field {
  name: string;
  /** Byte offset from the start of the enclosing type. */
  offset: number;
  type: TypeDesc;
  /**
   * An anonymous struct/union member (C11 6.7.2.1p13): its members are reached as
   * if they were members of the enclosing type. Its own name is synthetic.
   */
  anonymous?: boolean;
}

export interface UserType {
  name: string;
  kind: 'struct' | 'union' | 'class';
  size: number;
  /** In declaration order. */
  fields: Field[];
}

export interface EnumType {
  name: string;
  size: number;
  /** Name of the base type the enum is stored as. */
  base: string;
  /** Enumerator name → value, in declaration order. */
  constants: Map<string, bigint>;
}

export interface SymbolDef {
  name: string;
  /** Kernel virtual address (bigint: kernel addresses exceed 2^53). */
  address: bigint;
  type?: TypeDesc;
  /** Bytes of a constant the symbol names (e.g. `linux_banner`), when known. */
  constantData?: Uint8Array;
  /** ISF `linkage_name` (kept for round trips). */
  linkageName?: string;
}

export interface LayoutMetadata {
  /** What produced the source this layout was read from. */
  producer?: { name: string; version: string; datetime?: string };
  /** ISF format version the layout was read from, if it came from ISF. */
  format?: string;
  os?: 'linux' | 'windows' | 'mac';
  /** ISF `metadata.linux` / `metadata.windows` / `metadata.mac` objects, kept as-is for round trips. */
  osInfo?: unknown;
  /** Kernel release (e.g. `6.1.0-57-amd64`), when known. */
  kernelRelease?: string;
  /** The kernel's `linux_banner` text, when the source carried it (vmlinux, bzImage). */
  banner?: string;
}

export interface LayoutData {
  /** Bytes of a pointer on the target (8 on x86-64). */
  pointerSize: number;
  endian: 'little' | 'big';
  baseTypes: Map<string, BaseType>;
  userTypes: Map<string, UserType>;
  enums: Map<string, EnumType>;
  /** C typedef names → what they stand for (BTF only; ISF has no typedefs). */
  typedefs: Map<string, TypeDesc>;
  symbols: Map<string, SymbolDef>;
  /** Types of global variables known without an address (BTF VAR entries). */
  variableTypes: Map<string, TypeDesc>;
  metadata: LayoutMetadata;
}

export function emptyLayoutData(pointerSize = 8, endian: 'little' | 'big' = 'little'): LayoutData {
  return {
    pointerSize,
    endian,
    baseTypes: new Map(),
    userTypes: new Map(),
    enums: new Map(),
    typedefs: new Map(),
    symbols: new Map(),
    variableTypes: new Map(),
    metadata: {},
  };
}

/** A short C-like rendering of a descriptor (`struct list_head`, `int *`, `char[16]`). */
export function typeName(t: TypeDesc): string {
  switch (t.kind) {
    case 'base':
      return t.name;
    case 'pointer':
      return t.subtype.kind === 'function' ? 'func *' : `${typeName(t.subtype)} *`;
    case 'array':
      return `${typeName(t.subtype)}[${t.count}]`;
    case 'struct':
    case 'union':
    case 'class':
    case 'enum':
      return `${t.kind} ${t.name}`;
    case 'function':
      return 'func';
    case 'bitfield':
      return `${typeName(t.type)}:${t.bitLength}`;
  }
}
