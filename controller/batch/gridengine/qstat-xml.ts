import { XMLParser } from "fast-xml-parser";
import type { JobStatus } from "../batch-backend.js";
import { hostOfQueueInstance, phaseOfState } from "./states.js";

// Values stay strings: a job named "0042" or a numeric-looking host must not become a number.
const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (name) => ["job_list", "element", "ulong_sublist"].includes(name),
});

type Node = Record<string, unknown>;

function asNode(v: unknown): Node | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Node) : undefined;
}
function asNodes(v: unknown): Node[] {
  if (Array.isArray(v)) return v.map(asNode).filter((n): n is Node => n !== undefined);
  const n = asNode(v);
  return n ? [n] : [];
}
function text(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}
/** Follows a path of element names; arrays along the way are flattened. */
function dig(root: unknown, ...path: string[]): unknown[] {
  let level: unknown[] = [root];
  for (const key of path) {
    level = level.flatMap((n) => {
      const v = asNode(n)?.[key];
      if (v === undefined) return [];
      return Array.isArray(v) ? v : [v];
    });
  }
  return level;
}

function parse(xml: string, what: string): Node {
  const doc = asNode(parser.parse(xml));
  if (!doc) throw new Error(`${what}: not XML: ${xml.slice(0, 200)}`);
  return doc;
}

/**
 * `qstat -xml -u '*'` -> jobs, running ones (queue_info) and pending ones (job_info) alike.
 * Array jobs are not used by gridvm; their tasks would appear as several entries of one id.
 */
export function parseQstatJobList(xml: string): JobStatus[] {
  const doc = parse(xml, "qstat -xml");
  const root = asNode(doc["job_info"]);
  if (!root) throw new Error(`qstat -xml: no <job_info> root in: ${xml.slice(0, 200)}`);
  const entries = [...dig(root, "queue_info", "job_list"), ...dig(root, "job_info", "job_list")];
  return asNodes(entries).map((j) => {
    const id = text(j["JB_job_number"]);
    const state = text(j["state"]) ?? "";
    if (!id) throw new Error(`qstat -xml: job_list without JB_job_number: ${JSON.stringify(j)}`);
    const { phase, reason } = phaseOfState(state);
    const host = hostOfQueueInstance(text(j["queue_name"]));
    return {
      id,
      name: text(j["JB_name"]) ?? "",
      phase,
      rawState: state,
      ...(host ? { host } : {}),
      ...(reason ? { reason } : {}),
    };
  });
}

export interface JobDetail {
  /** The job is not known to the qmaster (`<unknown_jobs>`). */
  unknown: boolean;
  /** Why the job is in error state (per task), newest last. */
  errorReasons: string[];
  /** The scheduler's words about this job (needs schedd_job_info true). */
  schedulingInfo: string[];
  /** The scheduler's words about the whole cluster ("queue instance ... dropped because it is full"). */
  globalSchedulingInfo: string[];
}

/** `qstat -j ID -xml` -> why the job waits or is in error. */
export function parseQstatJobDetail(xml: string, jobId: string): JobDetail {
  const doc = parse(xml, "qstat -j -xml");
  if (doc["unknown_jobs"] !== undefined) {
    return { unknown: true, errorReasons: [], schedulingInfo: [], globalSchedulingInfo: [] };
  }
  const root = asNode(doc["detailed_job_info"]);
  if (!root) throw new Error(`qstat -j -xml: no <detailed_job_info> root in: ${xml.slice(0, 200)}`);
  const errorReasons = dig(
    root,
    "djob_info",
    "element",
    "JB_ja_tasks",
    "ulong_sublist",
    "JAT_message_list",
    "ulong_sublist",
  )
    .map((m) => text(asNode(m)?.["QIM_message"]))
    .filter((m): m is string => !!m);
  const schedulingInfo = asNodes(dig(root, "messages", "element", "SME_message_list", "element"))
    .filter((m) =>
      dig(m, "MES_job_number_list", "ulong_sublist").some(
        (u) => text(asNode(u)?.["ULNG_value"]) === jobId,
      ),
    )
    .map((m) => text(m["MES_message"]))
    .filter((m): m is string => !!m);
  const globalSchedulingInfo = asNodes(
    dig(root, "messages", "element", "SME_global_message_list", "element"),
  )
    .map((m) => text(m["MES_message"]))
    .filter((m): m is string => !!m);
  return { unknown: false, errorReasons, schedulingInfo, globalSchedulingInfo };
}

/** "11/22/2026 04:08:47 [0:22274]: execvlp(...) failed: ..." -> "execvlp(...) failed: ..." */
function withoutStamp(message: string): string {
  return message
    .replace(/^\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d \[[^\]]*\]:\s*/, "")
    .replace(/^error:\s*/, "");
}

/** The one line a condition shows for a job in `phase`, from its detail. */
export function reasonFromDetail(phase: JobStatus["phase"], detail: JobDetail): string | undefined {
  if (phase === "Error") {
    const last = detail.errorReasons.at(-1);
    return last
      ? withoutStamp(last)
      : "Grid Engine put the job in error state (no reason recorded)";
  }
  if (phase === "Pending" || phase === "Held") {
    const own = detail.schedulingInfo.filter((m) => !/^Job is in error state$/.test(m));
    const lines = own.length > 0 ? own : detail.globalSchedulingInfo;
    return lines.length > 0 ? lines.join("; ") : undefined;
  }
  return undefined;
}
