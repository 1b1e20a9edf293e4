// The scan engine: plain-data options in, a self-describing result out (DESIGN.md,
// "Beyond one machine"). See runScan (./run-scan.ts) and RunScanOptions (./open-scan.ts).
export { runScan, runForTarget, scanOpen, SCAN_RESULT_SCHEMA, type ScanResult, type RunIdentity, type ImageIdentity, type ScanTimings, type DetectionReport } from './run-scan.js';
export { DEFAULT_GRAPH_IN_POOL_FROM, type RunScanOptions, type OpenScan } from './open-scan.js';
export { createScanPool, defaultWorkerEntry, MAX_WORKERS, type ScanPool, type ScanPoolOptions } from './pool.js';
export { DEFAULT_CHUNK_SIZE, MAX_CHUNKS, planChunks, mergeSegments, type Chunk, type Segment, type PlanOptions } from './plan.js';
export type { ScanProgress, ScanPhase, Missed, ProgressListener } from './progress.js';
export type { Rejections, Unverified, ScanTask, TaskResult, ImageDescriptor, SignatureSource } from './messages.js';
export { HASH_MODES, type HashMode, type ImageHash, type SignatureIdentity } from './identity.js';
export { hintsFromTruth } from './hints.js';
export { scanPointerMode, verifyCandidate, carveObject, type VerifyContext } from './verify.js';
