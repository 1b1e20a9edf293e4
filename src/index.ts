// kcarve as a library: plain-data functions per image, so a job engine can
// spread a corpus over machines (see DESIGN.md, "Beyond one machine").
export * from './errors.js';
export * from './addr.js';
export * from './signatures/program.js';
export * from './signatures/format.js';
export { loadSignature, resolveSignature, type Signature, type ResolvedConstraint, type ResolvedEdge } from './signatures/load.js';
export { judge, evaluateEdge, type KernelSpace, type EdgeResult, type Verdict } from './signatures/edges.js';
export { scanReference, evaluateAt } from './signatures/reference.js';
export { validateProgram } from './signatures/validate.js';
export { openImage as openNativeImage, compileProgram, scanImage, scanBuffer } from './native/index.js';
export type * from './os/types.js';
// Scanning (issue 5): the registry of OS supports, the scan engine, the list walk and the cross-view.
export {
  osSupport,
  osPlugin,
  osRef,
  registerOsSupport,
  registerOsModule,
  registeredOses,
  resolveOsRef,
  type OsPlugin,
  type OsPluginFactory,
  type OsPluginHost,
  type OsRef,
} from './os/index.js';
export * from './scan/index.js';
export { taskJson, rowJson, toJsonData, type TaskJson } from './scan/json.js';
export * from './views/index.js';
export * from './types/index.js';
export * from './layers/index.js';
export { KCARVE_VERSION } from './version.js';
// Real Linux images (issue 7): QMP client, image builder, validation pass.
export { QmpClient, QmpError, type QmpEvent, type QmpGreeting } from './qemu/qmp.js';
export {
  buildLinuxImage,
  cachedLinuxImage,
  validateLinuxImageDir,
  type BuildLinuxImageOptions,
  type BuiltLinuxImage,
} from './datasets/linux/build-image.js';
export { validateLinuxTruth, type ValidationReport } from './datasets/linux/validate.js';
export { E2E_LINUX_PARAMS, type LinuxImageParams, type UnlinkStyle } from './datasets/linux/plan.js';
export type { LinuxTruth, TruthTask } from './datasets/linux/truth.js';
// Synthetic worlds (issue 4): deterministic images with ground truth, OS plug-ins.
export * from './synth/index.js';
// Robustness by fuzzing a live guest (issue 8): GDB remote client, campaigns, evasion image.
export { GdbRemoteClient, GdbRemoteError } from './qemu/gdb-remote.js';
export { runCampaign, reportCampaign, loadCampaignLayout, type CampaignOptions, type CampaignResult } from './fuzz/campaign.js';
export { runEvasion, evasionFindings, type EvasionOptions, type EvasionResult, type EvasionFindings } from './fuzz/evade.js';
export { ROBUSTNESS_SCHEMA, type Robustness } from './fuzz/report.js';
export { loadRobustness, validateRobustness } from './fuzz/robustness-schema.js';
export { VERDICT_RULE, type Verdict as RobustnessVerdict, type MemberResult } from './fuzz/verdict.js';
export { classifyTrial, type Outcome, type TrialObservation } from './fuzz/classify.js';
export { MUTATION_KINDS, type MutationKind } from './fuzz/mutations.js';
// Signature training (issue 6) and the truth/scan plumbing evaluation reuses.
export * from './train/index.js';
// Evaluation (issue 6): signatures against ground truth, the evasion matrix, reports.
export * from './eval/index.js';
