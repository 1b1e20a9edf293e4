import { readFileSync } from 'node:fs';

/** kcarve's own version, read from package.json (results record it). */
export const KCARVE_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
