// kcarve as a library: plain-data functions per image, so a job engine can
// spread a corpus over machines (see DESIGN.md, "Beyond one machine").
export * from './errors.js';
export * from './addr.js';
export * from './signatures/program.js';
export * from './layers/index.js';
export { KCARVE_VERSION } from './version.js';
