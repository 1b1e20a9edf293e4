// Which OS support and which signature a scan uses:
//   --os NAME                 that OS support; its default signature unless --signature
//                             (several defaults, one per build: detection among them)
//   --os auto + --signature   the OS the signature targets (target.os): the support
//                             registered under that name, else the only one for that OS
//   --os auto, no signature   detection (./detect.ts): every registered OS support with a
//                             default signature is tried
import { readFileSync } from 'node:fs';
import { SignatureError, UsageError } from '../errors.js';
import { type OsPlugin, osPlugin, registeredOses } from '../os/index.js';
import type { SignatureDoc } from '../signatures/format.js';
import { validateSignatureShape } from '../signatures/schema.js';

export interface ScanTarget {
  plugin: OsPlugin;
  signatureFile: string;
}

/** The OS a signature file targets (validating its shape, not resolving its layout). */
export function signatureTargetOs(file: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SignatureError(file, '', `cannot read a signature: ${(err as Error).message}`);
  }
  validateSignatureShape(doc, file);
  return (doc as SignatureDoc).target.os;
}

function pluginForOs(targetOs: string, signature: string): OsPlugin {
  const names = registeredOses();
  if (names.includes(targetOs)) return osPlugin(targetOs);
  const matching = names.map(osPlugin).filter((p) => p.support.os === targetOs);
  if (matching.length === 1) return matching[0]!;
  if (matching.length === 0) {
    throw new UsageError(
      `${signature} targets ${targetOs}, and no OS support for ${targetOs} is registered ` +
        `(registered: ${names.length === 0 ? 'none' : names.join(', ')}); pass --os NAME`,
    );
  }
  throw new UsageError(`several OS supports handle ${targetOs} (${matching.map((p) => p.name).join(', ')}); pass --os NAME`);
}

/** The signatures an OS support uses when none is given. */
export function defaultSignaturesOf(plugin: OsPlugin): readonly string[] {
  return plugin.defaultSignatures ?? (plugin.defaultSignature === undefined ? [] : [plugin.defaultSignature]);
}

/**
 * The target for explicit choices, or the targets to detect among (an array) when the
 * OS — or, for an OS support with one default per build, the build — must be detected.
 */
export function chooseTarget(os: string | undefined, signature: string | undefined): ScanTarget | ScanTarget[] {
  if (os !== undefined && os !== 'auto') {
    const plugin = osPlugin(os);
    if (signature !== undefined) return { plugin, signatureFile: signature };
    const files = defaultSignaturesOf(plugin);
    if (files.length === 0) {
      throw new UsageError(`the ${plugin.name} OS support ships no default signature; pass --signature FILE`);
    }
    return files.length === 1 ? { plugin, signatureFile: files[0]! } : files.map((f) => ({ plugin, signatureFile: f }));
  }
  if (signature !== undefined) return { plugin: pluginForOs(signatureTargetOs(signature), signature), signatureFile: signature };
  return detectionCandidates();
}

/** Every registered OS support (each of its default signatures) that can be tried without a signature. */
export function detectionCandidates(): ScanTarget[] {
  const out: ScanTarget[] = [];
  for (const name of registeredOses()) {
    const plugin = osPlugin(name);
    for (const file of defaultSignaturesOf(plugin)) out.push({ plugin, signatureFile: file });
  }
  if (out.length === 0) {
    const names = registeredOses();
    throw new UsageError(
      `--os auto needs an OS support with a default signature, and none is registered ` +
        `(registered: ${names.length === 0 ? 'none' : names.join(', ')}); pass --signature FILE (and --os NAME)`,
    );
  }
  return out;
}
