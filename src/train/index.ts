// Training signatures from images with ground truth (`kcarve train`, issue 6), and the
// metric-free pieces `kcarve eval` reuses: opening an IMAGE_DIR with its truth and a
// kernel space rebuilt from it, scanning it with a signature and sorting the hits
// against the truth.
export { train, signatureDoc, TRAIN_DEFAULTS, type TrainOptions, type TrainResult } from './train.js';
export { trainModel, inferAlignment, type Model, type ModelConfig } from './model.js';
export { crossValidate, type FoldResult } from './cross-validate.js';
export { renderReport } from './report.js';
export { openTrainingImage, closeTrainingImage, truthObjectSize, type TrainingImage } from './training-image.js';
// TruthStatus is the same union src/views exports.
export { loadTruth, parseTruth, residueIntact, type TruthFile, type TruthObject, type TruthDecoy } from './truth-file.js';
export { TruthKernelSpace } from './truth-space.js';
export { NativeImages, scanHits, classifyHits, nonObjectGiB, type ScanHits, type HitClasses } from './native-scan.js';
export { judgeImage, type ImageOutcome } from './judge-image.js';
export { loadAttackerFields, shippedAttackerFieldsPath, attackerEntriesFor, type AttackerField } from './attacker-fields.js';
export { readRobustness, verdictOfPath, type RobustnessFile } from './robustness.js';
export { pointerShapeFor, type PointerShape, type AddressRegion } from './pointer-shape.js';
