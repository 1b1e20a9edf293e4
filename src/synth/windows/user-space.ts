// The user-mode half of a process: the image's first page, the PEB, the process parameters
// with their strings, the environment block and one TEB per thread, each in a physical
// page of its own, mapped only in the process's page tables. The regions they sit in are
// what the process's VADs describe.
//
// Facts: _PEB, _RTL_USER_PROCESS_PARAMETERS and _UNICODE_STRING from the layout pack
// (UNICODE_STRING Length/MaximumLength in bytes, Buffer UTF-16; parameters "normalized"
// with Flags bit 0 set hold absolute Buffer pointers, ntdll RtlNormalizeProcessParams).
// PE images start with "MZ" and e_lfanew → "PE\0\0" (Microsoft PE/COFF specification).
// Where the pieces sit (general knowledge of the releases, as seen in any debugger):
// - XP SP2: EXEs at 0x01000000 (Windows') or 0x00400000; PEB randomized in the 16 pages
//   below 0x7FFDF000, TEBs below it; parameters at 0x00020000, environment at 0x00010000;
//   ntdll 0x7C900000, kernel32 0x7C800000.
// - 7 SP1 x64: Windows EXEs near 0x00000000FF000000, others near 0x000000013F000000; PEB
//   in 0x7FFFFFD3000..0x7FFFFFDF000, TEBs below; ntdll near 0x77000000.
// - 10 x64: EXEs near 0x00007FF6'00000000, PEB anywhere in 0x00000001'00000000..
//   0x000000FF'FFFFFFFF with its TEBs after it, heaps near 0x000001xx'00000000, ntdll
//   near 0x00007FFB'00000000.
import type { PageAllocator } from '../page-allocator.js';
import type { PageContent } from '../page-content.js';
import type { PhysCanvas } from '../canvas.js';
import { PAGE_SIZE } from '../memory-map.js';
import { NoiseKind } from '../noise.js';
import type { Prng } from '../prng.js';
import type { UserMapping } from './address-space.js';
import { type WinLayout, roundUp, utf16 } from './layout.js';
import type { PlannedProcess } from './plan.js';

export type VadKind = 'image' | 'private' | 'mapped';

/** A reserved region of the process's address space (one VAD). */
export interface VadRegion {
  readonly start: bigint;
  /** Last byte + 1, page-aligned. */
  readonly end: bigint;
  readonly kind: VadKind;
  /** MM protection index (1 read-only, 3 execute-read, 4 read-write, 7 execute-write-copy). */
  readonly protection: number;
}

export interface UserSpace {
  readonly maps: UserMapping[];
  readonly vads: VadRegion[];
  readonly imageBase: bigint;
  readonly pebVa: bigint;
  readonly paramsVa: bigint;
  readonly tebs: bigint[];
  readonly imagePath: string;
  readonly commandLine: string;
}

export interface UserEnv {
  readonly w: WinLayout;
  readonly pages: PageAllocator;
  readonly content: PageContent;
  readonly canvas: PhysCanvas;
  readonly computerName: string;
}

const KiB = 1024n;

function bases(w: WinLayout, system: boolean, rng: Prng): { image: bigint; peb: bigint; params: bigint; env: bigint; ntdll: bigint; tebStep: bigint } {
  switch (w.build.name) {
    case 'winxpsp2x86':
      return { image: system ? 0x01000000n : 0x00400000n, peb: 0x7ffdf000n - BigInt(rng.int(11)) * 0x1000n, params: 0x00020000n, env: 0x00010000n, ntdll: 0x7c900000n, tebStep: -0x1000n };
    case 'win7sp1x64':
      return {
        image: (system ? 0xff000000n : 0x13f000000n) + BigInt(rng.int(0x800)) * 0x10000n,
        peb: 0x7fffffd3000n + BigInt(rng.int(13)) * 0x1000n,
        params: 0x400000n + BigInt(rng.int(64)) * 0x10000n,
        env: 0x800000n + BigInt(rng.int(64)) * 0x10000n,
        ntdll: 0x77000000n + BigInt(rng.int(0x100)) * 0x10000n,
        tebStep: -0x2000n,
      };
    default: {
      const peb = (0x100000000n + BigInt(rng.int(0xfe)) * 0x100000000n + BigInt(rng.int(0x100000)) * 0x1000n) & ~0xfffn;
      const heap = 0x10000000000n + BigInt(rng.int(0xff)) * 0x100000000n + BigInt(rng.int(0x8000)) * 0x10000n;
      return { image: 0x7ff600000000n + BigInt(rng.int(0x1ffff)) * 0x10000n, peb, params: heap, env: heap + 0x10000n, ntdll: 0x7ffb00000000n + BigInt(rng.int(0x4000)) * 0x10000n, tebStep: 0x1000n };
    }
  }
}

function environment(w: WinLayout, computer: string, user: string): string {
  const win = w.build.name === 'winxpsp2x86' ? 'C:\\WINDOWS' : 'C:\\Windows';
  const vars = [
    w.build.name === 'winxpsp2x86' ? 'ALLUSERSPROFILE=C:\\Documents and Settings\\All Users' : 'ALLUSERSPROFILE=C:\\ProgramData',
    `COMPUTERNAME=${computer}`,
    `ComSpec=${win}\\system32\\cmd.exe`,
    'NUMBER_OF_PROCESSORS=2',
    'OS=Windows_NT',
    `Path=${win}\\system32;${win};${win}\\System32\\Wbem`,
    'PATHEXT=.COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH',
    'PROCESSOR_ARCHITECTURE=' + (w.ptrSize === 8 ? 'AMD64' : 'x86'),
    'SystemDrive=C:',
    `SystemRoot=${win}`,
    `TEMP=${win}\\TEMP`,
    `USERNAME=${user}`,
    `windir=${win}`,
  ];
  return `${vars.join('\0')}\0\0`;
}

/** Lay out the user space of `p` and write its pages; returns the mappings and VAD regions. */
export function buildUserSpace(env: UserEnv, p: PlannedProcess, rng: Prng): UserSpace {
  const { w, canvas } = env;
  const prog = p.program;
  const b = bases(w, prog.image === 'system', rng);
  const maps: UserMapping[] = [];
  const page = (va: bigint, kind: number, writable: boolean, executable: boolean): number => {
    const pa = env.pages.allocPage();
    env.content.setKind(pa, PAGE_SIZE, kind);
    maps.push({ va, pa, writable, executable });
    return pa;
  };
  const imagePath = prog.path;
  const quoted = /\s/.test(imagePath) ? `"${imagePath}"` : imagePath;
  const commandLine = prog.args === '' ? quoted : `${quoted} ${prog.args}`;

  // The image's headers: MZ, e_lfanew, PE signature, machine (i386 0x14c / AMD64 0x8664).
  const imagePa = page(b.image, NoiseKind.code, false, false);
  const hdr = new Uint8Array(PAGE_SIZE / 4);
  hdr.set([0x4d, 0x5a, 0x90, 0x00, 0x03], 0);
  const lfanew = w.ptrSize === 8 ? 0xf8 : 0xe8;
  new DataView(hdr.buffer).setUint32(0x3c, lfanew, true);
  hdr.set([0x50, 0x45, 0, 0], lfanew);
  new DataView(hdr.buffer).setUint16(lfanew + 4, w.ptrSize === 8 ? 0x8664 : 0x14c, true);
  canvas.write(imagePa, hdr);

  // Environment block (UTF-16, double-NUL terminated).
  const envBytes = utf16(environment(w, env.computerName, p.program.session === 0 ? 'SYSTEM' : 'user'));
  const envPa = page(b.env, NoiseKind.zero, true, false);
  canvas.write(envPa, envBytes.subarray(0, PAGE_SIZE));

  // Process parameters: the struct, then its strings (normalized: absolute pointers).
  const paramsPages = 2;
  const paramsBuf = new Uint8Array(paramsPages * PAGE_SIZE);
  const ps = w.struct('_RTL_USER_PROCESS_PARAMETERS', paramsBuf, 0);
  let at = roundUp(w.sizes.params, 8);
  const putString = (path: string, text: string): void => {
    const bytes = utf16(text);
    if (at + bytes.length + 2 > paramsBuf.length) throw new Error(`synth windows: process parameters of ${prog.name} overflow ${paramsPages} pages`);
    paramsBuf.set(bytes, at);
    ps.set(`${path}.Length`, bytes.length);
    ps.set(`${path}.MaximumLength`, bytes.length + 2);
    ps.set(`${path}.Buffer`, b.params + BigInt(at));
    at = roundUp(at + bytes.length + 2, 8);
  };
  const sysDir = w.build.name === 'winxpsp2x86' ? 'C:\\WINDOWS\\system32' : 'C:\\Windows\\system32';
  putString('CurrentDirectory.DosPath', `${sysDir}\\`);
  putString('DllPath', `${sysDir};${sysDir.slice(0, -9)};.`);
  putString('ImagePathName', imagePath);
  putString('CommandLine', commandLine);
  putString('WindowTitle', imagePath);
  putString('DesktopInfo', p.program.session === 0 && prog.kind === 'service' ? 'Service-0x0-3e7$\\Default' : 'WinSta0\\Default');
  putString('ShellInfo', '');
  ps.set('MaximumLength', at);
  ps.set('Length', at);
  ps.set('Flags', 1);
  ps.set('Environment', b.env);
  ps.set('ShowWindowFlags', 1);
  for (let i = 0; i < paramsPages; i += 1) {
    const pa = page(b.params + BigInt(i * PAGE_SIZE), NoiseKind.zero, true, false);
    canvas.write(pa, paramsBuf.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE));
  }

  // PEB.
  const peb = new Uint8Array(w.sizes.peb);
  const s = w.struct('_PEB', peb, 0);
  const os = w.build.facts.os;
  s.set('ImageBaseAddress', b.image);
  s.set('ProcessParameters', b.params);
  s.set('Ldr', b.ntdll + 0x160000n + BigInt(rng.int(0x100)) * 0x40n);
  s.set('ProcessHeap', b.params - (b.params % 0x10000n));
  s.set('OSMajorVersion', os.major);
  s.set('OSMinorVersion', os.minor);
  s.set('OSBuildNumber', os.build);
  s.set('OSPlatformId', 2);
  s.set('NumberOfProcessors', 2);
  s.set('SessionId', p.program.session ?? 0);
  if (s.has('OSCSDVersion')) s.set('OSCSDVersion', w.build.name === 'winxpsp2x86' ? 0x200 : w.build.name === 'win7sp1x64' ? 0x100 : 0);
  const pebPa = page(b.peb, NoiseKind.zero, true, false);
  canvas.write(pebPa, peb);

  // TEBs, one page each (their contents are not in the layout packs: left zero).
  const tebs: bigint[] = [];
  for (let i = 0; i < p.threads.length; i += 1) {
    const va = b.peb + b.tebStep * BigInt(i + 1);
    page(va, NoiseKind.zero, true, false);
    tebs.push(va);
  }

  const imageSize = BigInt(0x10000 + rng.int(0x40) * 0x10000);
  const tebLow = tebs.reduce((m, v) => (v < m ? v : m), b.peb);
  const tebHigh = tebs.reduce((m, v) => (v > m ? v : m), b.peb) + 0x1000n;
  const vads: VadRegion[] = [
    { start: b.image, end: b.image + imageSize, kind: 'image', protection: 7 },
    { start: b.env, end: b.env + 0x10000n, kind: 'private', protection: 4 },
    { start: b.params - (b.params % 0x10000n), end: b.params - (b.params % 0x10000n) + 0x10000n, kind: 'private', protection: 4 },
    { start: b.ntdll, end: b.ntdll + BigInt(0x180000 + rng.int(16) * 0x1000), kind: 'image', protection: 7 },
    { start: tebLow, end: tebHigh, kind: 'private', protection: 4 },
  ];
  if (w.build.name !== 'win10x64_19041') vads.push({ start: b.ntdll - 0x100000n, end: b.ntdll - 0x100000n + 0xf6000n, kind: 'image', protection: 7 });
  // Thread stacks: 256 KiB reserved each, low in the address space.
  const stackBase = w.build.name === 'winxpsp2x86' ? 0x00030000n : w.build.name === 'win7sp1x64' ? 0x00040000n : b.params - 0x2000000n;
  for (let i = 0; i < Math.min(p.threads.length, 8); i += 1) vads.push({ start: stackBase + BigInt(i) * 256n * KiB, end: stackBase + BigInt(i + 1) * 256n * KiB - 0x10000n, kind: 'private', protection: 4 });
  vads.sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
  for (let i = 1; i < vads.length; i += 1) {
    if (vads[i]!.start < vads[i - 1]!.end) throw new Error(`synth windows: VADs of ${prog.name} overlap at ${vads[i]!.start.toString(16)} (world bug)`);
  }
  return { maps, vads, imageBase: b.image, pebVa: b.peb, paramsVa: b.params, tebs, imagePath, commandLine };
}
