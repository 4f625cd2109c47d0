import pkg from '../package.json' with { type: 'json' };
import { ChangelingError, asChangelingError } from './util/errors.js';
import { fieldText, isVerbose, noteStdoutError, setVerbose, stdoutResult, writeErr, writeVerbatim } from './cli/io.js';
import { installSignalHandlers, stoppedExitCode } from './util/cleanup.js';
import { onNotice } from './util/notices.js';
import { commandArguments, relaunchIfLong } from './cli/longArguments.js';
import { SHOW_HELP, showCommand } from './cli/showCommand.js';
import { OVERVIEW_HELP, overviewCommand } from './cli/overviewCommand.js';
import { MINE_HELP, mineCommand } from './cli/mineCommand.js';
import { DOCTOR_HELP, doctorCommand } from './cli/doctorCommand.js';
import { DEMO_HELP, demoCommand } from './cli/demoCommand.js';
import { INSPECT_HELP, inspectCommand } from './cli/inspectCommand.js';
import { DOWNLOAD_HELP, downloadCommand } from './cli/downloadCommand.js';
import { TRAIN_HELP, trainCommand } from './cli/trainCommand.js';
import { EVAL_HELP, evalCommand } from './cli/evalCommand.js';
import { FEATURES_HELP, featuresCommand } from './cli/featuresCommand.js';
import { LABEL_HELP, labelCommand } from './cli/labelCommand.js';
import { ADOPT_HELP, EXPORT_HELP, adoptCommand, exportCommand } from './cli/exportCommand.js';
import { RISK_HELP, riskCommand } from './cli/riskCommand.js';
import { HOOK_HELP, hookCommand } from './cli/hookCommand.js';
import { EDITS_HELP, editsCommand } from './cli/editsCommand.js';
import { EXPORT_ADAPTER_HELP, exportAdapterCommand } from './cli/exportAdapterCommand.js';
import { RISK_TRAIN_HELP, riskTrainCommand } from './cli/riskTrainCommand.js';
import { SUGGEST_HELP, suggestCommand } from './cli/suggestCommand.js';
import { FINETUNE_HELP, finetuneCommand } from './cli/finetuneCommand.js';
import { INPUT_HELP, inputCommand } from './cli/inputCommand.js';
import { PROBE_HELP, probeCommand } from './cli/probeCommand.js';

/**
 * The `changeling` command line: dispatch to the commands, help, and the one place errors become a `changeling:
 * ...` line and an exit code.
 */

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; help: string }> = {
  overview: { run: overviewCommand, help: OVERVIEW_HELP },
  show: { run: showCommand, help: SHOW_HELP },
  mine: { run: mineCommand, help: MINE_HELP },
  doctor: { run: doctorCommand, help: DOCTOR_HELP },
  demo: { run: demoCommand, help: DEMO_HELP },
  inspect: { run: inspectCommand, help: INSPECT_HELP },
  download: { run: downloadCommand, help: DOWNLOAD_HELP },
  train: { run: trainCommand, help: TRAIN_HELP },
  eval: { run: evalCommand, help: EVAL_HELP },
  features: { run: featuresCommand, help: FEATURES_HELP },
  label: { run: labelCommand, help: LABEL_HELP },
  export: { run: exportCommand, help: EXPORT_HELP },
  adopt: { run: adoptCommand, help: ADOPT_HELP },
  'export-adapter': { run: exportAdapterCommand, help: EXPORT_ADAPTER_HELP },
  suggest: { run: suggestCommand, help: SUGGEST_HELP },
  input: { run: inputCommand, help: INPUT_HELP },
  finetune: { run: finetuneCommand, help: FINETUNE_HELP },
  probe: { run: probeCommand, help: PROBE_HELP },
  risk: { run: riskCommand, help: RISK_HELP },
  'risk-train': { run: riskTrainCommand, help: RISK_TRAIN_HELP },
  hook: { run: hookCommand, help: HOOK_HELP },
  edits: { run: editsCommand, help: EDITS_HELP },
};

const HELP = `changeling ${pkg.version}: code-change models on your machine

Usage:
${Object.values(COMMANDS)
  .map((c) => '  ' + c.help.split('\n')[0])
  .join('\n')}
  changeling help COMMAND

With no command, "overview" runs (the change, suggested messages and its risk). --verbose (any command): which execution provider was chosen and why, and
the trace of an unexpected error. Exit codes: 0 success, 1 failure, 2 bad usage, 3 a risky change (risk --fail-on), 130 cancelled.`;

export async function main(args: string[]): Promise<number> {
  setVerbose(args.includes('--verbose'));
  const argv = args.filter((a) => a !== '--verbose');
  // A reader that goes away (changeling mine | head) ends the output quietly; any other failure of stdout
  // (a full disk, an I/O error) is reported when the command ends, with exit 1.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    noteStdoutError(err);
  });
  installSignalHandlers();
  onNotice((text) => writeErr(`changeling: note: ${text}\n`));
  const first = argv[0];
  if (first === '--version' || first === '-v') {
    await writeVerbatim(`${pkg.version}\n`);
    return finish(0);
  }
  if (first === 'help' || first === '--help' || first === '-h') {
    const topic = first === 'help' ? argv[1] : undefined;
    await writeVerbatim((topic && COMMANDS[topic] ? COMMANDS[topic].help : HELP) + '\n');
    return finish(0);
  }
  const named = first !== undefined && !first.startsWith('-');
  const name = named ? first : 'overview';
  const cmd = COMMANDS[name];
  if (!cmd) {
    writeErr(`changeling: unknown command "${fieldText(name, 80)}"\n\n${HELP}\n`);
    return 2;
  }
  const rest = named ? argv.slice(1) : argv;
  if (rest.includes('--help') || rest.includes('-h')) {
    await writeVerbatim(cmd.help + '\n');
    return finish(0);
  }
  let code: number;
  try {
    code = await cmd.run(rest);
  } catch (err) {
    return reportError(err);
  }
  return finish(code);
}

/** A command that succeeded still fails when its output could not be written (a full disk under `> file`). */
async function finish(code: number): Promise<number> {
  const failed = await stdoutResult();
  return failed ? reportError(failed) : code;
}

/** Every failure ends in one line (`changeling: ...`, control characters escaped); the trace only with --verbose. */
function reportError(raw: unknown): number {
  const err = asChangelingError(raw);
  if (err instanceof ChangelingError) {
    if (err.code === 'cancelled') {
      writeErr('\nchangeling: cancelled; nothing was written\n');
      return stoppedExitCode();
    }
    writeErr(`changeling: ${oneLine(err.message)}\n`);
    if (isVerbose() && raw instanceof Error && raw.stack) writeErr(raw.stack + '\n');
    return err.code === 'usage' || err.code === 'nothing-staged' ? 2 : 1;
  }
  const code = (raw as { code?: string })?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    writeErr(`changeling: ${oneLine((raw as Error).message)}\n`);
    return 2;
  }
  writeErr(
    `changeling: unexpected error: ${oneLine((raw as Error)?.message ?? String(raw))}${isVerbose() ? '' : ' (run again with --verbose for the details)'}\n`,
  );
  if (isVerbose()) writeErr(((raw as Error)?.stack ?? String(raw)) + '\n');
  return 1;
}

const oneLine = (s: string) => {
  const t = fieldText(s.trim().split('\n')[0] ?? '', 2000);
  return t;
};

const args = commandArguments();
(relaunchIfLong(args) ?? main(args)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    writeErr(`changeling: ${fieldText(String(err), 2000)}\n`);
    process.exitCode = 1;
  },
);
