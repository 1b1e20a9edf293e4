#!/usr/bin/env node
// The `kcarve` command. Each subcommand lives in ./commands/<name>.ts and exports
// `register(program)`. Exit codes: 0 ok, 1 usage, 2 bad input (see ../errors.ts).
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { KcarveError } from '../errors.js';
import { KCARVE_VERSION } from '../version.js';
import { loadCommands } from './commands/index.js';
import { endPhase, reportTimings, timePhase } from '../timing.js';

/** The program with the subcommand `argv` names (all of them when it names none; see loadCommands). */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const first = argv[0];
  // `--version` needs no subcommand; anything else not naming one (--help, a typo) loads them all.
  const version = argv.length === 1 && (first === '--version' || first === '-V');
  const commands = version ? [] : await timePhase('import command modules', () => loadCommands(first === undefined || first.startsWith('-') ? undefined : first));
  const program = new Command();
  program
    .name('kcarve')
    .description(
      'Find kernel process objects (Linux task_struct, Windows EPROCESS) in physical memory ' +
        'images by signature scanning, including processes hidden by DKOM and processes that exited.',
    )
    .version(KCARVE_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return err.exitCode === 0 ? 0 : 1;
    }
    if (err instanceof KcarveError) {
      process.stderr.write(`kcarve: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

/**
 * `kcarve scan ... | head`: when the reader goes away, stop quietly (as `cat` would)
 * instead of dying on an unhandled EPIPE. Other write errors end with exit code 2.
 */
export function handleStdoutErrors(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    process.stderr.write(`kcarve: cannot write the output: ${err.message}\n`);
    process.exit(2);
  });
}

if (invokedDirectly()) {
  endPhase('node start and load the main module', 0);
  handleStdoutErrors();
  main(process.argv.slice(2)).then(
    (code) => {
      reportTimings();
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`kcarve: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 70;
    },
  );
}
