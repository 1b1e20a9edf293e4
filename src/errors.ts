// The project's error classes. Every error a user can cause carries the data a
// researcher needs to find the problem (path, offset, field), and maps to a CLI
// exit code: 1 for usage, 2 for bad input. Anything else is a bug and propagates.

export type AddressSpace = 'physical' | 'virtual' | 'file';

/** Base of all errors kcarve raises on purpose. */
export class KcarveError extends Error {
  /** Exit code the CLI uses when this error ends a command. */
  readonly exitCode: number = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line or API options. Exit code 1. */
export class UsageError extends KcarveError {
  override readonly exitCode: number = 1;
}

function at(offset: number | bigint | undefined): string {
  return offset === undefined ? '' : ` at offset 0x${offset.toString(16)}`;
}

/** A memory image (or any input file) whose container format is wrong. */
export class ImageFormatError extends KcarveError {
  constructor(
    readonly path: string,
    readonly offset: number | undefined,
    readonly reason: string,
  ) {
    super(`${path}${at(offset)}: ${reason}`);
  }
}

/** Reading an input failed at the OS level (EIO, file vanished or shrank, ...). */
export class ImageIOError extends KcarveError {
  constructor(
    readonly path: string,
    readonly offset: number | undefined,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}${at(offset)}: ${reason}`, options);
  }
}

/** An address that does not translate or falls in a hole of the image. */
export class InvalidAddressError extends KcarveError {
  constructor(
    readonly space: AddressSpace,
    readonly address: bigint,
    readonly reason: string,
  ) {
    super(`${space} address 0x${address.toString(16)}: ${reason}`);
  }
}

/** A structure layout (BTF, ISF, layout pack) is corrupt, or lacks a type or member. */
export class LayoutError extends KcarveError {
  constructor(
    readonly file: string,
    readonly type: string | undefined,
    readonly member: string | undefined,
    readonly reason: string,
  ) {
    const where = [type, member].filter((s) => s !== undefined && s !== '').join('.');
    super(`${file}${where ? ` (${where})` : ''}: ${reason}`);
  }
}

/** A signature or constraint program is malformed. `field` is a JSON path into it. */
export class SignatureError extends KcarveError {
  constructor(
    readonly file: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${file}${field ? ` at ${field}` : ''}: ${reason}`);
  }
}

/** A ground-truth file is malformed or disagrees with its image. */
export class TruthError extends KcarveError {
  constructor(
    readonly file: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${file}${field ? ` at ${field}` : ''}: ${reason}`);
  }
}

/** An external tool (qemu, gcc, ...) is missing or failed. */
export class EnvironmentError extends KcarveError {
  constructor(
    readonly tool: string,
    readonly reason: string,
    readonly fix?: string,
  ) {
    super(`${tool}: ${reason}${fix ? ` (fix: ${fix})` : ''}`);
  }
}

/**
 * The kernel's address space (or a piece of it) could not be found in an image.
 * `what` names the piece (`direct-map base`, `kernel page-table root`, ...).
 */
export class DiscoveryError extends KcarveError {
  constructor(
    readonly path: string,
    readonly what: string,
    readonly reason: string,
  ) {
    super(`${path}: cannot find the ${what}: ${reason}`);
  }
}
