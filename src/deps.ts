/**
 * A loop's dependencies, real or printing. The action and the CLI both start from these; each adds only what is
 * its own (the action: step state, outputs and GitHub reporting). A dry run is these dependencies, not a branch
 * inside the loops: a printing executor, no installs, no checks, no files, no reporter.
 */
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { runContractChecks } from './contract.js';
import { collectDiagnostics } from './diagnostics.js';
import { DryRunExecutor, type Executor, formatCommand } from './executor.js';
import type { LoopDeps } from './loops/index.js';
import { installTools } from './tools.js';
import type { ActionInputs } from './validate.js';

const FORWARDING = /Forwarding from 127\.0\.0\.1:(\d+)/;

export function realLoopDeps(inputs: ActionInputs, exec: Executor, log: (line: string) => void): LoopDeps {
  return {
    exec,
    log,
    installTools: (tools) => installTools(tools.map((name) => ({ name, version: inputs.tools[name] }))),
    contract: (req) => runContractChecks(req),
    portForward: async (command) => {
      const bg = exec.start(command);
      try {
        const m = await bg.waitFor(FORWARDING, 60_000);
        return { url: `http://127.0.0.1:${m[1]}`, stop: () => bg.stop() };
      } catch (error) {
        await bg.stop();
        throw error;
      }
    },
    writeFile: writePrivateFile,
    saveState: () => {},
    diagnostics: ({ namespace, kindCluster, env, dir }) => {
      ensurePrivateDir(dirname(dir));
      return collectDiagnostics(exec, { namespace, kindCluster, env, dir });
    },
  };
}

export function dryRunLoopDeps(inputs: ActionInputs, log: (line: string) => void): LoopDeps {
  const exec = new DryRunExecutor(log);
  return {
    exec,
    log,
    installTools: async (tools) => {
      log(`# install ${tools.map((t) => `${t} ${inputs.tools[t]}`).join(', ')} (checksum-verified, cached)`);
      return {};
    },
    contract: async (req) => {
      const names = req.checks.filter((c) => c.stages.includes(req.stage)).map((c) => c.name);
      const where =
        'url' in req.target
          ? req.target.url
          : Object.entries(req.target.services)
              .map(([s, u]) => `${s} ${u}`)
              .join(', ');
      log(
        `# contract checks (${req.mode}, stage ${req.stage}) against ${where}: ${names.join(', ') || '(none declared)'}`,
      );
      return [];
    },
    portForward: async (command) => {
      await exec.run(command);
      const service = (command.args.find((a) => a.startsWith('service/')) ?? 'service').replace(
        'service/',
        '',
      );
      return { url: `http://127.0.0.1:<${service}-port>`, stop: async () => {} };
    },
    // Only the path and what it holds: a values file or a kubeconfig may carry secrets.
    writeFile: (path, _content, what) => log(`# write ${path} (${what})`),
    saveState: () => {},
  };
}

const privateDirs = new Set<string>();

/** Creates the run's private directory once, mode 0700, failing if anything already has its (random) name. */
export function ensurePrivateDir(dir: string): void {
  if (privateDirs.has(dir)) return;
  mkdirSync(dirname(dir), { recursive: true });
  mkdirSync(dir, { mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || (st.mode & 0o077) !== 0)
    throw new Error(`private directory ${dir} is not a directory only we can read`);
  privateDirs.add(dir);
}

/** O_CREAT|O_EXCL, mode 0600: never writes through an existing file or a symlink planted under that name. */
export function writePrivateFile(path: string, content: string): void {
  ensurePrivateDir(dirname(path));
  writeFileSync(path, content, { mode: 0o600, flag: 'wx' });
}

/** The plan of a dry run: every command in order, as a shell would read it. */
export function planCommands(
  deps: LoopDeps,
): Array<{ command: string; description?: string; env?: Record<string, string>; cwd?: string }> {
  return deps.exec.commands.map((c) => ({
    command: formatCommand({ cmd: c.cmd, args: c.args }),
    description: c.description,
    env: c.env,
    cwd: c.cwd,
  }));
}
