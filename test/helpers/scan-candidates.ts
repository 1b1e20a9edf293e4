// Candidates of a signature's value constraints in an image, with the native
// matcher over each physical run (a stand-in for the scan engine in tests).
export { scanRuns as scanCandidates } from '../../src/signatures/measure.js';
