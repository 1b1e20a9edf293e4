// Views of the kernel's own structures beside the scan: the list walk (pslist) and the
// cross-view (xview) with verdicts linked / hidden / exited.
export * from './cross-view.js';
export * from './pslist.js';
export * from './xview.js';
