import { readFile } from "node:fs/promises";
import { runCommand, type RunOptions, type RunResult } from "../../machinery/command.js";
import type {
  BatchBackend,
  DeleteOptions,
  JobAccounting,
  JobSpec,
  JobStatus,
} from "../batch-backend.js";
import { parseQacct, reasonFromAccounting } from "./qacct.js";
import { parseQsubTerse, qsubArgs, type QsubSettings } from "./qsub-args.js";
import { parseQstatJobDetail, parseQstatJobList, reasonFromDetail } from "./qstat-xml.js";

export type CommandRunner = (
  file: string,
  args: readonly string[],
  opts: RunOptions,
) => Promise<RunResult>;

export interface GridEngineConfig extends QsubSettings {
  sgeRoot: string;
  sgeCell: string;
  /** Directory of qsub/qstat/qdel/qacct; default /usr/bin (Debian). */
  binDir?: string;
  timeoutMs?: number;
}

/**
 * BatchBackend on Grid Engine's command-line tools, argv only. Stateless: every answer comes
 * from the qmaster (qstat) or its accounting file (qacct), so a restarted controller sees what
 * the old one left.
 */
export class GridEngineBackend implements BatchBackend {
  readonly kind = "gridengine";
  private readonly run: CommandRunner;

  constructor(
    private readonly config: GridEngineConfig,
    run: CommandRunner = runCommand,
  ) {
    this.run = run;
  }

  private cmd(
    tool: string,
    args: readonly string[],
    okExitCodes?: readonly number[],
  ): Promise<RunResult> {
    return this.run(`${this.config.binDir ?? "/usr/bin"}/${tool}`, args, {
      timeoutMs: this.config.timeoutMs ?? 30_000,
      env: { SGE_ROOT: this.config.sgeRoot, SGE_CELL: this.config.sgeCell },
      ...(okExitCodes ? { okExitCodes } : {}),
    });
  }

  async submit(spec: JobSpec): Promise<string> {
    const { stdout } = await this.cmd("qsub", qsubArgs(spec, this.config));
    return parseQsubTerse(stdout);
  }

  async list(): Promise<JobStatus[]> {
    const { stdout } = await this.cmd("qstat", ["-xml", "-u", "*"]);
    return parseQstatJobList(stdout);
  }

  async findByName(name: string): Promise<JobStatus | undefined> {
    const live = (await this.list()).filter((j) => j.name === name);
    // Two live jobs of one name would break invariant 1; report the oldest (lowest id), which
    // the caller keeps, so the reconciler can delete the other.
    live.sort((a, b) => Number(a.id) - Number(b.id));
    if (live[0]) return this.withReason(live[0]);
    // Not queued: it may have run and ended between a crash and the status write.
    const records = await this.accountingRecords(name);
    const last = records.at(-1);
    return last ? finishedStatus(last) : undefined;
  }

  async get(id: string): Promise<JobStatus> {
    const job = (await this.list()).find((j) => j.id === id);
    if (job) return this.withReason(job);
    const acct = await this.accounting(id);
    if (acct) return finishedStatus(acct);
    return {
      id,
      name: "",
      phase: "Unknown",
      reason: `job ${id} is neither queued nor in the accounting file`,
    };
  }

  async delete(id: string, opts: DeleteOptions = {}): Promise<void> {
    const args = opts.force ? ["-f", id] : [id];
    const { exitCode, stdout, stderr } = await this.cmd("qdel", args, [1]);
    if (exitCode === 1 && !/does not exist/.test(stdout + stderr)) {
      throw new Error(`qdel ${args.join(" ")}: ${(stderr || stdout).trim()}`);
    }
  }

  async accounting(id: string): Promise<JobAccounting | undefined> {
    return (await this.accountingRecords(id)).at(-1);
  }

  private async accountingRecords(idOrName: string): Promise<JobAccounting[]> {
    // Exit 1 with "job id/name ... not found" when there is no record.
    const { exitCode, stdout } = await this.cmd("qacct", ["-j", idOrName], [1]);
    return exitCode === 0 ? parseQacct(stdout) : [];
  }

  /** Adds the why for jobs that wait or are in error (one more qstat call, only for those). */
  private async withReason(job: JobStatus): Promise<JobStatus> {
    if (!["Pending", "Held", "Error"].includes(job.phase)) return job;
    const { stdout } = await this.cmd("qstat", ["-j", job.id, "-xml"]);
    const detail = parseQstatJobDetail(stdout, job.id);
    const reason = reasonFromDetail(job.phase, detail);
    return reason ? { ...job, reason } : job;
  }
}

function finishedStatus(a: JobAccounting): JobStatus {
  return {
    id: a.id,
    name: a.name,
    phase: "Finished",
    reason: reasonFromAccounting(a),
    ...(a.host ? { host: a.host } : {}),
  };
}

/** Reads hack/gridengine/up.sh's gridengine.env (KEY=VALUE lines) into a config. */
export async function gridEngineConfigFromEnvFile(path: string): Promise<GridEngineConfig> {
  const vars = new Map<string, string>();
  for (const line of (await readFile(path, "utf8")).split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) vars.set(m[1]!, m[2]!);
  }
  const need = (k: string) => {
    const v = vars.get(k);
    if (!v) throw new Error(`${path}: ${k} missing`);
    return v;
  };
  return {
    sgeRoot: need("SGE_ROOT"),
    sgeCell: need("SGE_CELL"),
    queue: need("GRIDVM_SGE_QUEUE"),
    parallelEnvironment: need("GRIDVM_SGE_PE"),
    memoryComplex: need("GRIDVM_SGE_MEM_COMPLEX"),
  };
}
