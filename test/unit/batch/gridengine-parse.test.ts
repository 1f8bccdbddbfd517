import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { jobNameFor, parseJobName } from "../../../controller/batch/batch-backend.js";
import { parseQacct, reasonFromAccounting } from "../../../controller/batch/gridengine/qacct.js";
import { parseQsubTerse, qsubArgs } from "../../../controller/batch/gridengine/qsub-args.js";
import {
  parseQstatJobDetail,
  parseQstatJobList,
  reasonFromDetail,
} from "../../../controller/batch/gridengine/qstat-xml.js";
import { hostOfQueueInstance, phaseOfState } from "../../../controller/batch/gridengine/states.js";

// Fixtures are real output of Son of Grid Engine 8.1.9 on the local cluster (hack/gridengine).
const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");

describe("phaseOfState", () => {
  it.each([
    ["qw", "Pending"],
    ["hqw", "Held"],
    ["hRwq", "Held"],
    ["t", "Starting"],
    ["Rt", "Starting"],
    ["r", "Running"],
    ["Rr", "Running"],
    ["Eqw", "Error"],
    ["Ehqw", "Error"],
    ["dr", "Deleting"],
    ["dt", "Deleting"],
    ["dEqw", "Deleting"],
    ["s", "Suspended"],
    ["S", "Suspended"],
    ["T", "Suspended"],
    ["x", "Unknown"],
  ])("%s -> %s", (state, phase) => {
    expect(phaseOfState(state).phase).toBe(phase);
  });
});

describe("hostOfQueueInstance", () => {
  it.each([
    ["gridvm.q@gvm-h1", "gvm-h1"],
    ["all.q@quad-wn29.example.org", "quad-wn29.example.org"],
    ["", undefined],
    [undefined, undefined],
    ["gridvm.q@", undefined],
  ])("%s -> %s", (q, host) => {
    expect(hostOfQueueInstance(q)).toBe(host);
  });
});

describe("parseQstatJobList", () => {
  it("reads running and pending jobs with their hosts and phases", () => {
    const jobs = parseQstatJobList(fixture("qstat-mixed.xml"));
    expect(jobs.map((j) => [j.id, j.name, j.phase, j.host, j.rawState])).toEqual([
      ["8", "gvm-run", "Running", "gvm-h2", "r"],
      ["13", "gvm-pe", "Running", "gvm-h1", "r"],
      ["9", "gvm-big", "Pending", undefined, "qw"],
      ["10", "gvm-bad", "Error", undefined, "Eqw"],
      ["12", "gvm-held", "Held", undefined, "hqw"],
    ]);
  });

  it("reads an empty cluster", () => {
    const xml = `<?xml version='1.0'?><job_info><queue_info></queue_info><job_info></job_info></job_info>`;
    expect(parseQstatJobList(xml)).toEqual([]);
  });

  it("keeps numeric-looking names as text and handles a single job", () => {
    const xml = `<?xml version='1.0'?><job_info><queue_info><job_list state="running"><JB_job_number>7</JB_job_number>
      <JB_name>g0042</JB_name><state>t</state><queue_name>q@0001</queue_name></job_list></queue_info><job_info/></job_info>`;
    expect(parseQstatJobList(xml)).toEqual([
      { id: "7", name: "g0042", phase: "Starting", host: "0001", rawState: "t" },
    ]);
  });

  it("rejects what is not qstat output", () => {
    expect(() => parseQstatJobList("error: commlib error")).toThrow(/qstat -xml/);
  });
});

describe("parseQstatJobDetail and reasonFromDetail", () => {
  it("gives the scheduler's reason for a job too big for every host", () => {
    const detail = parseQstatJobDetail(fixture("qstat-j-pending.xml"), "9");
    expect(detail.unknown).toBe(false);
    expect(reasonFromDetail("Pending", detail)).toBe(
      '(-l gvm_mem=8G) cannot run at host "gvm-h2" because it offers only hc:gvm_mem=3.000G',
    );
  });

  it("gives the error reason of a job whose binary does not exist, without the time stamp", () => {
    const detail = parseQstatJobDetail(fixture("qstat-j-error.xml"), "10");
    expect(reasonFromDetail("Error", detail)).toMatch(
      /^execvlp\(\/nonexistent\/x, "\/nonexistent\/x"\) failed: No such file or directory$/,
    );
  });

  it("ignores scheduler messages about other jobs", () => {
    const detail = parseQstatJobDetail(fixture("qstat-j-pending.xml"), "999");
    expect(detail.schedulingInfo).toEqual([]);
    expect(reasonFromDetail("Pending", detail)).toBe(
      'queue instance "gridvm.q@gvm-h1" dropped because it is full',
    );
  });

  it("reports an unknown job", () => {
    const xml = `<?xml version='1.0'?>\n<unknown_jobs >\n    <ST_name>99999</ST_name>\n</unknown_jobs>`;
    expect(parseQstatJobDetail(xml, "99999").unknown).toBe(true);
  });

  it("says so when an error has no recorded reason", () => {
    expect(
      reasonFromDetail("Error", {
        unknown: false,
        errorReasons: [],
        schedulingInfo: [],
        globalSchedulingInfo: [],
      }),
    ).toMatch(/no reason recorded/);
  });
});

describe("parseQacct", () => {
  it("reads a job that ended normally", () => {
    const [a] = parseQacct(fixture("qacct-ok.txt"));
    expect(a).toMatchObject({
      id: "1",
      name: "t1",
      host: "gvm-h2",
      exitStatus: 0,
      failedCode: 0,
      wallclockSeconds: 3,
    });
    expect(a!.endedAt!.getTime() - a!.startedAt!.getTime()).toBe(3000);
    expect(reasonFromAccounting(a!)).toBe("the job ended (exit status 0)");
  });

  it("reads a job killed for its h_rt", () => {
    const [a] = parseQacct(fixture("qacct-hrt.txt"));
    expect(a).toMatchObject({
      id: "6",
      name: "hrt",
      failedCode: 37,
      failedReason: "qmaster enforced h_rt, h_cpu, or h_vmem limit",
    });
    expect(reasonFromAccounting(a!)).toBe(
      "Grid Engine failed the job (37: qmaster enforced h_rt, h_cpu, or h_vmem limit)",
    );
  });

  it("reads several records of one name in order", () => {
    const two = fixture("qacct-ok.txt") + fixture("qacct-hrt.txt");
    expect(parseQacct(two).map((r) => r.id)).toEqual(["1", "6"]);
  });
});

describe("qsubArgs", () => {
  const settings = { queue: "gridvm.q", parallelEnvironment: "gvm_smp", memoryComplex: "gvm_mem" };
  const base = { name: "gvm-abc-r0", command: ["/usr/bin/node", "/opt/job.js", "--uid", "a b"] };

  it("runs the binary without a shell, with notify, and the command last", () => {
    const args = qsubArgs(base, settings);
    expect(args.slice(0, 10)).toEqual([
      "-terse",
      "-b",
      "y",
      "-shell",
      "n",
      "-notify",
      "-r",
      "n",
      "-N",
      "gvm-abc-r0",
    ]);
    expect(args.slice(-4)).toEqual(["/usr/bin/node", "/opt/job.js", "--uid", "a b"]);
    expect(args).not.toContain("-pe");
    expect(args).not.toContain("-l");
  });

  it("asks for memory through the consumable, cpus through the PE, and the time limit as h_rt", () => {
    const args = qsubArgs(
      { ...base, memoryBytes: 2 * 1024 ** 3, cpus: 2, timeLimitSeconds: 7200 },
      settings,
    );
    expect(args).toEqual(expect.arrayContaining(["-l", "gvm_mem=2147483648,h_rt=7200"]));
    const pe = args.indexOf("-pe");
    expect(args.slice(pe, pe + 3)).toEqual(["-pe", "gvm_smp", "2"]);
  });

  it("passes environment variables one by one", () => {
    const args = qsubArgs(
      { ...base, env: { GRIDVM_AGENT_SOCKET: "/run/{host}/a.sock", X: "1" } },
      settings,
    );
    expect(args).toEqual(
      expect.arrayContaining(["-v", "GRIDVM_AGENT_SOCKET=/run/{host}/a.sock", "-v", "X=1"]),
    );
  });

  it.each([
    [{ ...base, name: "1abc" }, /job name/],
    [{ ...base, name: "a/b" }, /job name/],
    [{ ...base, command: ["node"] }, /absolute path/],
    [{ ...base, memoryBytes: 0 }, /memoryBytes/],
    [{ ...base, cpus: 0 }, /cpus/],
    [{ ...base, timeLimitSeconds: 1.5 }, /timeLimitSeconds/],
    [{ ...base, env: { A: "x,y" } }, /comma/],
    [{ ...base, env: { "A-B": "x" } }, /variable name/],
  ])("refuses %j", (spec, error) => {
    expect(() => qsubArgs(spec, settings)).toThrow(error);
  });

  it("reads the id qsub -terse prints", () => {
    expect(parseQsubTerse("42\n")).toBe("42");
    expect(parseQsubTerse("43.1-10:1")).toBe("43");
    expect(() => parseQsubTerse("Unable to run job")).toThrow(/no job id/);
  });
});

describe("jobNameFor", () => {
  const uid = "6f1c2a9e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
  it("derives a deterministic name from the UID and run counter, and back", () => {
    expect(jobNameFor(uid, 3)).toBe(`gvm-${uid}-r3`);
    expect(jobNameFor(uid.toUpperCase(), 3)).toBe(jobNameFor(uid, 3));
    expect(parseJobName(jobNameFor(uid, 3))).toEqual({ uid, run: 3 });
    expect(parseJobName("someone-elses-job")).toBeUndefined();
  });
  it("is a valid Grid Engine name", () => {
    expect(() =>
      qsubArgs(
        { name: jobNameFor(uid, 0), command: ["/bin/true"] },
        { parallelEnvironment: "p", memoryComplex: "m" },
      ),
    ).not.toThrow();
  });
  it.each([["not a uid"], [""], ["../x"]])("refuses uid %j", (bad) => {
    expect(() => jobNameFor(bad, 0)).toThrow(/UID/);
  });
  it("refuses a negative run", () => expect(() => jobNameFor(uid, -1)).toThrow(/run/));
});
