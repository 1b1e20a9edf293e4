// Linux support for the OS-neutral scan pipeline (see ../types.ts): discovery of
// the kernel address space without symbols, carving task_struct hits, the
// init_task.tasks walk and the kernel's other views of its tasks.
import type { PhysicalReader } from '../../layers/physical.js';
import type { OsSupport } from '../types.js';
import { carveTask } from './carve.js';
import { discoverLinux } from './discover.js';
import { LinuxKernelSpace } from './kernel-space.js';
import { taskViews, walkTasks } from './task-views.js';

export const linuxSupport: OsSupport = {
  os: 'linux',
  discover: discoverLinux,
  kernelSpace: (image: PhysicalReader, info) => new LinuxKernelSpace(image, info),
  carve: carveTask,
  walkList: (image, sig, space, info) => walkTasks(image, sig, space, info),
  views: taskViews,
};

export { carveTask, exitEvidence, type CarvedTask } from './carve.js';
export { discoverLinux, readCandidates } from './discover.js';
export { decodeFreePointer, findFreelistKey, swab64, type FreelistKey } from './freelist.js';
export * as kernelFacts from './kernel-facts.js';
export { LinuxKernelSpace } from './kernel-space.js';
export { walkKernelList, MAX_LIST_LENGTH, type KernelListWalk } from './list-walk.js';
export { findInitTopPgt, kernelImageMappings, verifyRoot } from './page-tables.js';
export { selfPointerVotes } from './self-pointers.js';
export { taskLayout, type TaskLayout } from './task-layout.js';
export { freePointerWindow, linuxTaskSignature, type TaskSignatureOptions, type TaskSignatureResult } from './task-signature.js';
export { taskViews, walkTasks } from './task-views.js';
