// kcarve eval as a library: runEval (signatures × images × attack rows → a
// kcarve-eval/1 result), the scoring and metrics it is built from, and its renderers.
export { runEval, truthOfDir, EVAL_RESULT_SCHEMA, type EvalOptions, type EvalResult, type EvalCell, type EvalPooled, type EvalSignature, type EvalImage } from './run-eval.js';
export { scoreHits, poolScores, MAX_LISTED, type ScoredHit, type HitScore, type MissedObject, type ScoreOptions, type StatusScore as EvalStatusScore } from './score.js';
export { wilson, f1, zFor, perGb, gbPerSecond, BYTES_PER_GB, DEFAULT_CONFIDENCE, type Proportion } from './metrics.js';
export { parseAttackRows, EVASION_MATRIX, type AttackRow } from './attack-rows.js';
export { mutateLinuxImageCopy, type MutatedImage } from './image-attack.js';
export { renderEval, evalTables, EVAL_FORMATS, type EvalFormat } from './format.js';
export { evalReportHtml, writeEvalReport, vegaLiteSvg } from './report-html.js';
