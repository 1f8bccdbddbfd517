// Writes one manifest per student (namespace, RoleBinding to gridvm:user, the exam VMInstance)
// into a folder, the way a GitOps repository holds a class: `kubectl apply -R -f` that folder.
//   npx tsx hack/gen-exam-class.ts --students 30 --out /tmp/class [--exam os-exam-2026] [--prefix stud]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { stringify } from "yaml";

const o = new Command()
  .requiredOption("--out <dir>", "folder to write the students' manifests into")
  .option("--students <n>", "class size", "30")
  .option("--exam <template>", "the exam's VMTemplate (and the class's group name)", "os-exam-2026")
  .option("--prefix <p>", "student user names are <prefix>01, <prefix>02, ...", "stud")
  .option("--time-limit <d>", "how long each VM may run", "3h")
  .parse()
  .opts<{ out: string; students: string; exam: string; prefix: string; timeLimit: string }>();

export function studentManifests(user: string, exam: string, timeLimit: string): object[] {
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: user, labels: { "gridvm.io/owner": user, "gridvm.io/exam": exam } } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "gridvm-user", namespace: user },
      subjects: [{ kind: "User", name: user, apiGroup: "rbac.authorization.k8s.io" }],
      roleRef: { kind: "ClusterRole", name: "gridvm:user", apiGroup: "rbac.authorization.k8s.io" },
    },
    {
      apiVersion: "gridvm.io/v1alpha1",
      kind: "VMInstance",
      metadata: { name: "exam", namespace: user, annotations: { "gridvm.io/owner-groups": JSON.stringify([exam]) } },
      spec: { template: exam, owner: user, running: true, isolated: true, diskPolicy: "Keep", timeLimit },
    },
  ];
}

const n = Number(o.students);
if (!Number.isInteger(n) || n < 1 || n > 999) {
  console.error("gen-exam-class: --students must be between 1 and 999");
  process.exit(2);
}
mkdirSync(o.out, { recursive: true });
for (let i = 1; i <= n; i++) {
  const user = `${o.prefix}${String(i).padStart(n >= 100 ? 3 : 2, "0")}`;
  writeFileSync(join(o.out, `${user}.yaml`), studentManifests(user, o.exam, o.timeLimit).map((d) => stringify(d)).join("---\n"));
}
console.log(`wrote ${n} students to ${o.out}`);
