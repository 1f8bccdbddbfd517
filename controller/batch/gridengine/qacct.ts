import type { JobAccounting } from "../batch-backend.js";

/**
 * `qacct -j ID|NAME` prints one block per record, each opened by a line of "=" and made of
 * "key value" lines. Returns the records in file order (oldest first).
 */
export function parseQacct(output: string): JobAccounting[] {
  const blocks = output
    .split(/^=+\s*$/m)
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  return blocks.map(parseRecord);
}

function parseRecord(block: string): JobAccounting {
  const fields = new Map<string, string>();
  for (const line of block.split("\n")) {
    const m = /^(\S+)\s+(.*?)\s*$/.exec(line);
    if (m) fields.set(m[1]!, m[2]!);
  }
  const id = fields.get("jobnumber");
  if (!id) throw new Error(`qacct: record without jobnumber: ${block.slice(0, 200)}`);
  // "failed       37  : qmaster enforced h_rt, h_cpu, or h_vmem limit"
  const failed = /^(\d+)\s*(?::\s*(.*))?$/.exec(fields.get("failed") ?? "0");
  const host = fields.get("hostname");
  const startedAt = date(fields.get("start_time"));
  const endedAt = date(fields.get("end_time"));
  const wallclock = /^(\d+(?:\.\d+)?)s?$/.exec(fields.get("ru_wallclock") ?? "");
  const failedReason = failed?.[2]?.trim();
  return {
    id,
    name: fields.get("jobname") ?? "",
    exitStatus: Number(fields.get("exit_status") ?? "0"),
    failedCode: Number(failed?.[1] ?? "0"),
    ...(failedReason ? { failedReason } : {}),
    ...(host ? { host } : {}),
    ...(startedAt ? { startedAt } : {}),
    ...(endedAt ? { endedAt } : {}),
    ...(wallclock ? { wallclockSeconds: Number(wallclock[1]) } : {}),
  };
}

/** qacct prints ctime(3)-style local times ("Sun Nov 22 04:08:35 2026"); "-/-" when unset. */
function date(value: string | undefined): Date | undefined {
  if (!value || value.startsWith("-")) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** A finished job's reason line for conditions: why it failed, or its exit status. */
export function reasonFromAccounting(a: JobAccounting): string {
  if (a.failedCode !== 0)
    return `Grid Engine failed the job (${a.failedCode}${a.failedReason ? `: ${a.failedReason}` : ""})`;
  return a.exitStatus === 0
    ? "the job ended (exit status 0)"
    : `the job ended with exit status ${a.exitStatus}`;
}
