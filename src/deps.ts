/**
 * The real implementations behind a loop's dependencies, shared by the action and the CLI; each adds only what
 * is its own (the action: step state, outputs and GitHub reporting).
 */
import { runContractChecks } from './contract.js';
import { collectDiagnostics } from './diagnostics.js';
import type { Executor } from './executor.js';
import type { LoopDeps } from './loops.js';
import { installTools, type ToolName } from './tools.js';
import type { ActionInputs } from './validate.js';

export function defaultLoopDeps(inputs: ActionInputs, exec: Executor, log: (line: string) => void): LoopDeps {
  return {
    exec,
    log,
    installTools: (tools) =>
      installTools(tools.map((name) => ({ name: name as ToolName, version: inputs.tools[name] }))),
    contract: (req) => runContractChecks(req),
    saveState: () => {},
    diagnostics: ({ namespace, kindCluster, env, dir }) =>
      collectDiagnostics(exec, { namespace, kindCluster, env, dir }),
  };
}
