// Synthetic worlds: deterministic memory images with ground truth (see README.md).
export { Prng } from './prng.js';
export { MemoryMap, PAGE_SIZE, parseSize, type PhysRange, type SynthFormat } from './memory-map.js';
export { PageAllocator, MAX_ORDER, DEFAULT_CHURN_ORDERS, type PageBlock } from './page-allocator.js';
export { NoiseBank, NoiseKind, FIRST_WORLD_KIND, TemplatePage, type NoiseEnv, type NoiseKindName, type TemplateBuilder } from './noise.js';
export { COMMON_PROGRAMS } from './noise-text.js';
export { PageContent, populateBackground, DEFAULT_MIX, type BackgroundOptions } from './page-content.js';
export { PhysCanvas } from './canvas.js';
export { parseAttackSpec, drawRandomFields, NO_ATTACK, type AttackSpec } from './attack.js';
export { TRUTH_SCHEMA, truthJson, writeTruth, type SynthTruth, type SynthTruthTask, type SynthDecoy, type SynthBuildInfo } from './truth.js';
export { backgroundBytes, writeWorldImage, CHUNK_SIZE } from './image.js';
export type { BuiltWorld, SynthOptions, WorldContext, WorldPlugin } from './world.js';
export { WORLDS } from './worlds.js';
export { SYNTH_DEFAULTS, SYNTH_FORMATS, buildWorld, resolveSynthOptions, synthesize, worldFor, type SynthArgs, type SynthResult, type WorldInMemory } from './synthesize.js';
