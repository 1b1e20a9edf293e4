// The synthetic worlds `kcarve synth --os` knows: one line per OS plug-in (see world.ts).
import { linuxWorld } from './linux/world.js';
import { windowsWorld } from './windows/world.js';
import type { WorldPlugin } from './world.js';

export const WORLDS: readonly WorldPlugin[] = [linuxWorld, windowsWorld];
