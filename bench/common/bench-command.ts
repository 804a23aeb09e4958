/**
 * The command line of every benchmark, built with commander as src/cli is: `--help` (usage, every flag
 * with its default, what is measured, exit codes), one-line `bench:NAME: ...` errors, exit 2 for an
 * unknown flag or a bad value, and the exit code that follows from the targets (targets.ts).
 */

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { SniffmeshError, UsageError } from '../../src/util/errors.js';
import { BENCH_EXIT, BENCH_EXIT_HELP, benchExitCode, type TargetResult } from './targets.js';

export interface BenchOutcome {
  /** What goes to stdout: the report, or with --json one JSON object. */
  output: string;
  targets: readonly TargetResult[];
}

/**
 * A benchmark's command: `name` is also the prefix of its error and progress lines; `measures` is the
 * help's paragraph on what is measured and against which targets.
 */
export function benchCommand(name: string, summary: string, measures: string): Command {
  return new Command(name)
    .description(summary)
    .helpOption('-h, --help', 'show this help')
    .configureHelp({ helpWidth: 110 })
    .exitOverride()
    .configureOutput({
      writeErr: (text) => process.stderr.write(text),
      outputError: (text, write) => write(`${name}: ${text.replace(/^error: /, '')}`),
    })
    .addHelpText('after', `\n${measures.trim()}\n\n${BENCH_EXIT_HELP}\n`);
}

/**
 * An option with a value: parsed by `parse`, its default shown in --help as the user would type it
 * (`shown`, or the value itself; lists comma-separated).
 */
export function valueOption<T>(
  flags: string,
  description: string,
  parse: (text: string) => T,
  defaultValue: T,
  shown = Array.isArray(defaultValue) ? defaultValue.join(',') : String(defaultValue),
): Option {
  return new Option(flags, description).argParser(parse).default(defaultValue, shown === '' ? "''" : shown);
}

/** A parser for an integer option in [min, max]. */
export function integerArgument(min: number, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isInteger(value) || value < min || value > max)
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `give an integer >= ${min}`
          : `give an integer from ${min} to ${max}`,
      );
    return value;
  };
}

/** A parser for a comma-separated list of integers in [min, max]. */
export function integerListArgument(min: number, max: number): (text: string) => number[] {
  const one = integerArgument(min, max);
  return (text) => text.split(',').map((item) => one(item.trim()));
}

/** A parser for a comma-separated list drawn from `allowed`. */
export function choiceListArgument<T extends string>(allowed: readonly T[]): (text: string) => T[] {
  return (text) => {
    const items = text.split(',').map((item) => item.trim());
    for (const item of items)
      if (!(allowed as readonly string[]).includes(item))
        throw new InvalidArgumentError(`'${item}' is not one of ${allowed.join(', ')}`);
    return items as T[];
  };
}

/** The option's value, or `quickValue` when --quick is on and the flag was not given. */
export function quickOr<T>(command: Command, key: string, quick: boolean, quickValue: T): T {
  const value = command.getOptionValue(key) as T;
  return quick && command.getOptionValueSource(key) === 'default' ? quickValue : value;
}

export function progressLine(name: string): (message: string) => void {
  return (message) => process.stderr.write(`${name}: ${message}\n`);
}

/**
 * Parses `argv` (the user's arguments), turns the options into settings (`settings` may throw a
 * UsageError), runs the benchmark, prints its output and returns the exit code: 0 help, 2 usage error,
 * the targets' code after a report, 3 when the benchmark stopped before its report.
 */
export async function runBench<T>(
  command: Command,
  argv: readonly string[],
  settings: (command: Command) => T,
  run: (settings: T) => Promise<BenchOutcome>,
): Promise<number> {
  const name = command.name();
  let parsed: T;
  try {
    command.parse([...argv], { from: 'user' });
    parsed = settings(command);
  } catch (error) {
    if (error instanceof CommanderError)
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.help'
        ? BENCH_EXIT.allPassed
        : BENCH_EXIT.usage;
    if (error instanceof UsageError) {
      process.stderr.write(`${name}: ${error.message}\n`);
      return BENCH_EXIT.usage;
    }
    throw error;
  }
  try {
    const outcome = await run(parsed);
    process.stdout.write(outcome.output.endsWith('\n') ? outcome.output : `${outcome.output}\n`);
    return benchExitCode(outcome.targets);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${name}: ${message}\n`);
    if (!(error instanceof SniffmeshError) && error instanceof Error && error.stack)
      process.stderr.write(`${error.stack}\n`);
    process.stderr.write(`${name}: no report: could not judge any target (exit ${BENCH_EXIT.unjudged})\n`);
    return BENCH_EXIT.unjudged;
  }
}
