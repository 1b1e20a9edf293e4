// Windows support (issue 5): find _EPROCESS objects of XP SP2 x86 (PAE), 7 SP1 x64 and
// 10 19041 x64 in a physical image — the kernel DTB by the self-map (./discover.ts),
// carving (./carve.ts), PsActiveProcessHead (./list-walk.ts), the thread lists,
// PspCidTable and the handle-table ring (./views.ts), and the pool header → body step of
// pool-tag signatures (./pool-object.ts). Structure offsets come from the layout pack a
// signature names, Windows rules from the facts file beside it (./facts.ts).
import { fileURLToPath } from 'node:url';
import type { PhysAddr } from '../../addr.js';
import type { KernelSpace } from '../../signatures/edges.js';
import type { Signature } from '../../signatures/load.js';
import type { OsPlugin } from '../index.js';
import type { DiscoveryHints, KernelSpaceInfo, ListWalkResult, OsSupport } from '../types.js';
import { targetAccepts } from './bodies.js';
import { carveProcess } from './carve.js';
import { discoverWindows } from './discover.js';
import { WindowsKernelSpace, windowsInfo, windowsKernelSpace } from './kernel-space.js';
import { walkFromHead } from './list-walk.js';
import { winModel } from './model.js';
import { locateBody } from './pool-object.js';
import { windowsViews } from './views.js';

/** The shipped signatures, one per build, in the order `--os windows` tries them. */
export const WINDOWS_BUILDS = ['win10x64_19041', 'win7sp1x64', 'winxpsp2x86'] as const;
export type WindowsBuild = (typeof WINDOWS_BUILDS)[number];

/** Path of the shipped kcarve signature for a build. */
export function windowsSignaturePath(build: WindowsBuild): string {
  return fileURLToPath(new URL(`../../../signatures/windows/eprocess-${build}.sig.json`, import.meta.url));
}

/** Path of the shipped Volatility-psscan baseline for a build. */
export function windowsBaselinePath(build: WindowsBuild): string {
  return fileURLToPath(new URL(`../../../signatures/windows/baseline-volatility-psscan-${build}.sig.json`, import.meta.url));
}

function asSpace(space: KernelSpace): WindowsKernelSpace {
  if (!(space instanceof WindowsKernelSpace)) throw new Error('internal: the Windows OS support was handed a kernel space it did not build');
  return space;
}

export const windowsSupport: OsSupport = {
  os: 'windows',
  discover: (image, sig, candidates, hints) => discoverWindows(image, sig, candidates, hints),
  kernelSpace: (image, info) => windowsKernelSpace(image, info),
  carve: (sig, bytes, pa, space) => carveProcess(sig, bytes, pa, space),
  locate(sig: Signature, pa: PhysAddr, space: KernelSpace): PhysAddr | undefined {
    const m = winModel(sig.layout);
    return locateBody(m, space, pa, targetAccepts(sig, m.pointerMode, space));
  },
  walkList(_image, sig: Signature, space: KernelSpace, info: KernelSpaceInfo, hints: DiscoveryHints): ListWalkResult {
    const found = windowsInfo(info).listHead;
    // Discovery refuses a symbol whose ring does not close; walking it anyway shows where it breaks.
    const head = found === undefined ? hints.symbols?.get('PsActiveProcessHead') : BigInt(found);
    if (head === undefined) return { entries: [], stoppedBecause: 'PsActiveProcessHead was not found (no symbol, and no scanned object led to it)' };
    return walkFromHead(winModel(sig.layout), asSpace(space), head);
  },
  views(_image, sig, space, info, walk, records) {
    const cid = windowsInfo(info).pspCidTable;
    return windowsViews(winModel(sig.layout), asSpace(space), walk, records, cid === undefined ? undefined : BigInt(cid));
  },
};

export const windowsPlugin: OsPlugin = {
  name: 'windows',
  description: 'Windows XP SP2 x86 (PAE), 7 SP1 x64, 10 19041 x64: _EPROCESS by robust signature, DTB by the self-map',
  support: windowsSupport,
  // The build is not known before scanning: each build's signature is tried (target.ts).
  defaultSignatures: WINDOWS_BUILDS.map(windowsSignaturePath),
};
