// The Windows builds a synthetic world can be: each is a layout pack (ISF) plus its facts
// file (signatures/layouts/windows/README.md), and the conventions of that release that
// the packs do not hold (address-space regions, where user-mode pieces sit, which system
// processes run). Facts from the facts files are read, not restated here.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LayoutError } from '../../errors.js';

export type WindowsBuildName = 'win10x64_19041' | 'win7sp1x64' | 'winxpsp2x86';

/** The part of `<build>.facts.json` (schema kcarve-winfacts/1) a world uses. */
export interface WindowsFacts {
  readonly build: string;
  readonly os: { name: string; major: number; minor: number; build: number; revision: number };
  readonly pointer_size: 4 | 8;
  readonly address_space: {
    paging: 'x86-pae' | 'x86-64-4level';
    pml4_self_ref_index?: string | null;
    pml4_self_ref_fixed?: boolean;
    pte_base?: string;
    pde_base?: { x86: string; pae: string };
    kernel_va_start: string;
  };
  readonly pool: {
    header_size: number;
    granularity: number;
    block_size_unit: number;
    process_tag: { ascii: string; protected: boolean; u32: string };
    pool_type_rule: string;
  };
  readonly object_header: {
    body_offset: number;
    type_encoding: 'pointer' | 'index' | 'index-cookie';
    process_type_index: number | null;
    optional_header_rule: 'byte-offsets' | 'info-mask';
    optional_headers: { type: string; bit?: number; offset_member?: string | null; flag?: number }[];
  };
  readonly process_object: { dispatcher_type: number; dispatcher_size: number };
  readonly pid_rules: { multiple_of: number; system_pid: number };
  readonly image_file_name: { member: string; length: number };
}

export interface WindowsBuild {
  readonly name: WindowsBuildName;
  readonly isfPath: string;
  readonly facts: WindowsFacts;
  readonly arch: 'x86' | 'x64';
  /** Printed in truth.kernel.release: major.minor.build.revision. */
  readonly release: string;
  /** Typical boot dates of a machine of this era (FILETIME range of the boot), seconds since 1970. */
  readonly bootEpoch: readonly [number, number];
}

const PACK_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'signatures', 'layouts', 'windows');

function loadFacts(name: string): WindowsFacts {
  const path = join(PACK_DIR, `${name}.facts.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new LayoutError(path, undefined, undefined, `cannot read the facts file: ${(err as Error).message}`);
  }
  const f = raw as Partial<WindowsFacts> & { schema?: string };
  if (f.schema !== 'kcarve-winfacts/1' || f.build !== name) {
    throw new LayoutError(path, undefined, undefined, `not a kcarve-winfacts/1 file for ${name} (schema ${String(f.schema)}, build ${String(f.build)})`);
  }
  for (const key of ['os', 'pointer_size', 'address_space', 'pool', 'object_header', 'process_object', 'pid_rules', 'image_file_name'] as const) {
    if (f[key] === undefined) throw new LayoutError(path, undefined, undefined, `facts key ${key} is missing`);
  }
  return f as WindowsFacts;
}

function build(name: WindowsBuildName, arch: 'x86' | 'x64', bootEpoch: [number, number]): WindowsBuild {
  const facts = loadFacts(name);
  const { major, minor, build: b, revision } = facts.os;
  return { name, isfPath: join(PACK_DIR, `${name}.isf.json`), facts, arch, release: `${major}.${minor}.${b}.${revision}`, bootEpoch };
}

let builds: WindowsBuild[] | undefined;

/** The three builds, default first (the newest). Boot dates: years the release was in wide use. */
export function windowsBuilds(): readonly WindowsBuild[] {
  builds ??= [
    build('win10x64_19041', 'x64', [Date.UTC(2020, 5, 1) / 1000, Date.UTC(2023, 11, 31) / 1000]),
    build('win7sp1x64', 'x64', [Date.UTC(2011, 2, 1) / 1000, Date.UTC(2016, 11, 31) / 1000]),
    build('winxpsp2x86', 'x86', [Date.UTC(2004, 8, 1) / 1000, Date.UTC(2008, 3, 30) / 1000]),
  ];
  return builds;
}

export const WINDOWS_BUILD_NAMES: readonly WindowsBuildName[] = ['win10x64_19041', 'win7sp1x64', 'winxpsp2x86'];

export function windowsBuild(name: string): WindowsBuild {
  const b = windowsBuilds().find((x) => x.name === name);
  if (!b) throw new RangeError(`unknown Windows build ${name}`);
  return b;
}

/** FILETIME (100 ns since 1601-01-01 UTC) of a Unix time in seconds. */
export function fileTime(unixSeconds: number, extra100ns = 0n): bigint {
  // 11644473600 s between 1601-01-01 and 1970-01-01 (the FILETIME epoch, MS docs "FILETIME").
  return (BigInt(Math.floor(unixSeconds)) + 11644473600n) * 10_000_000n + extra100ns;
}
