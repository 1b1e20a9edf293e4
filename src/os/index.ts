// The OS-support registry: which operating systems kcarve can scan, by name.
//
// Two ways in:
//  - built in: a module under src/os/<name>/ adds one `registerOsSupport(...)` line at
//    the bottom of this file. Importing this file registers every built-in, in every
//    thread (the scan workers import it too), so built-ins need no module URL.
//  - plugins: `registerOsModule(url)` imports a module whose default export is an
//    OsPluginFactory (a function of the host API, see OsPluginHost). The CLI's
//    `--os-module FILE` and the tests' fake OS come in this way. The module URL is kept
//    so that scan workers can import the same module themselves (OsRef).
//
// Auto-detection (`--os auto`, src/scan/detect.ts) tries every registered OS that ships a
// default signature and picks the one whose scan finds the most process objects.
import { fileURLToPath } from 'node:url';
import * as addr from '../addr.js';
import * as errors from '../errors.js';
import { UsageError } from '../errors.js';
import type { OsSupport } from './types.js';
import { linuxSupport } from './linux/index.js';
import { windowsPlugin } from './windows/index.js';

export type * from './types.js';

/** What a plugin module's factory receives: the host's own classes, so that errors it
 *  throws are the ones the scan engine recognises (`instanceof InvalidAddressError`). */
export interface OsPluginHost {
  errors: typeof errors;
  addr: typeof addr;
}

/** One OS support, as registered. */
export interface OsPlugin {
  /** Registry name, used by `--os NAME` (`linux`, `windows`, or a plugin's own). */
  name: string;
  /** One line for `--help` and error messages. */
  description: string;
  support: OsSupport;
  /** Absolute path of the signature `kcarve scan` uses when none is given. */
  defaultSignature?: string;
  /**
   * Several defaults, one per OS build (Windows XP, 7, 10): with no signature given,
   * each is tried the way `--os auto` tries OS supports, and the one whose scan finds
   * the most objects is used. Takes the place of defaultSignature when set.
   */
  defaultSignatures?: readonly string[];
}

/** Default export of a plugin module. */
export type OsPluginFactory = (host: OsPluginHost) => OsPlugin;

/** How a worker thread finds an OS support: by name, importing `module` first if given. */
export interface OsRef {
  name: string;
  /** file: URL of the plugin module; absent for built-ins. */
  module?: string;
}

interface Entry {
  plugin: OsPlugin;
  module?: string;
}

const registry = new Map<string, Entry>();
const host: OsPluginHost = { errors, addr };

function checkName(name: unknown): string {
  if (typeof name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(name) || name === 'auto') {
    throw new UsageError(`OS support name must match [a-z][a-z0-9-]* and not be "auto" (got ${JSON.stringify(name)})`);
  }
  return name;
}

/**
 * Register an OS support under `plugin.name` (a second one under a name is a UsageError).
 * Scan workers see it only if they can register it too: built-ins by importing this file
 * (add the call below), anything else by `module` — the plugin module's URL, as
 * registerOsModule passes it. A support registered here without a module works in the
 * registering thread only (a scan with `workers: 0`, or a graph pass small enough to run
 * in-thread; see graphInPoolFrom).
 */
export function registerOsSupport(plugin: OsPlugin, module?: string): void {
  const name = checkName(plugin.name);
  const existing = registry.get(name);
  if (existing !== undefined) {
    // Importing the same plugin module twice (a worker and its task) is harmless.
    if (module !== undefined && existing.module === module) return;
    throw new UsageError(`OS support ${JSON.stringify(name)} is already registered`);
  }
  registry.set(name, module === undefined ? { plugin } : { plugin, module });
}

/**
 * Import a plugin module (path or file: URL) and register what its default export
 * returns. Returns the plugin; importing the same module again returns it again.
 */
export async function registerOsModule(moduleRef: string): Promise<OsPlugin> {
  const url = moduleRef.startsWith('file:') ? moduleRef : (await import('node:url')).pathToFileURL(moduleRef).href;
  for (const e of registry.values()) if (e.module === url) return e.plugin;
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (err) {
    throw new UsageError(`cannot load OS support module ${moduleRef}: ${(err as Error).message}`);
  }
  if (typeof mod.default !== 'function') {
    throw new UsageError(`OS support module ${moduleRef} has no default export function (an OsPluginFactory)`);
  }
  const plugin = (mod.default as OsPluginFactory)(host);
  if (typeof plugin !== 'object' || plugin === null || typeof plugin.support !== 'object') {
    throw new UsageError(`OS support module ${moduleRef}: its factory did not return { name, description, support }`);
  }
  registerOsSupport(plugin, url);
  return plugin;
}

/** Names of the registered OS supports, in registration order. */
export function registeredOses(): string[] {
  return [...registry.keys()];
}

/** The registered plugin called `name`; UsageError naming the choices otherwise. */
export function osPlugin(name: string): OsPlugin {
  const e = registry.get(name);
  if (e === undefined) {
    const known = registeredOses();
    throw new UsageError(
      `no OS support called ${JSON.stringify(name)} (registered: ${known.length === 0 ? 'none' : known.join(', ')})`,
    );
  }
  return e.plugin;
}

/** The OsSupport registered as `name`. */
export function osSupport(name: string): OsSupport {
  return osPlugin(name).support;
}

/** A worker-safe reference to a registered OS support. */
export function osRef(name: string): OsRef {
  osPlugin(name);
  const module = registry.get(name)!.module;
  return module === undefined ? { name } : { name, module };
}

/** Resolve an OsRef in this thread, importing its plugin module on first use. */
export async function resolveOsRef(ref: OsRef): Promise<OsSupport> {
  if (!registry.has(ref.name) && ref.module !== undefined) await registerOsModule(ref.module);
  return osSupport(ref.name);
}

// ---- built-in OS supports: one line each.
registerOsSupport({
  name: 'linux',
  description: 'Linux x86-64 task_struct',
  support: linuxSupport,
  // The output of `kcarve train` on the six real training images (command in the file);
  // it matches the hand-built debian-6.1.0-57-amd64.sig.json on live, hidden and exited
  // tasks with no false positives (signatures/linux/README.md, bench/linux-accuracy.ts).
  defaultSignature: fileURLToPath(new URL('../../signatures/linux/task_struct-debian-6.1.0-57.trained.sig.json', import.meta.url)),
});
registerOsSupport(windowsPlugin);
