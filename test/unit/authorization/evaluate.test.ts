import { describe, expect, it } from "vitest";
import {
  evaluate,
  type ClusterFacts,
  type Requester,
} from "../../../controller/authorization/evaluate.js";
import { permissionTargetCondition } from "../../../controller/authorization/permission-condition.js";
import type {
  Permission,
  PermissionSpec,
  VMGroup,
  VMInstance,
  VMInstanceSpec,
  VMTemplate,
  VMTemplateSpec,
} from "../../../controller/api/generated/types.js";

// The paper's world (section 5.1): badadmin administers; doraz and alex are students in "studs";
// gsr-vm is a derivable 5Gi template in VM group lab1; studs may derive it, forced isolated,
// at most 2 running VMs and 13Gi each.
const badadmin: Requester = {
  username: "badadmin",
  groups: ["gridvm:admins", "system:authenticated"],
};
const doraz: Requester = { username: "doraz", groups: ["studs", "system:authenticated"] };
const alex: Requester = { username: "alex", groups: ["studs", "system:authenticated"] };
const eve: Requester = { username: "eve", groups: ["system:authenticated"] };

function template(name: string, spec: Partial<VMTemplateSpec> = {}): VMTemplate {
  return {
    apiVersion: "gridvm.io/v1alpha1",
    kind: "VMTemplate",
    metadata: { name },
    spec: {
      vmGroup: "lab1",
      derivable: true,
      resources: { memory: "2Gi" },
      disks: [{ name: "root", size: "5Gi" }],
      ...spec,
    },
  };
}

function permission(
  name: string,
  spec: Partial<PermissionSpec> & Pick<PermissionSpec, "target">,
): Permission {
  return {
    apiVersion: "gridvm.io/v1alpha1",
    kind: "Permission",
    metadata: { name },
    spec: { subjects: [{ kind: "Group", name: "studs" }], allow: [], ...spec },
  };
}

function instance(
  name: string,
  spec: Partial<VMInstanceSpec> = {},
  namespace = "doraz",
): VMInstance {
  return {
    apiVersion: "gridvm.io/v1alpha1",
    kind: "VMInstance",
    metadata: { name, namespace },
    spec: { template: "gsr-vm", ...spec },
  };
}

const studsGsrVm = permission("studs-gsr-vm", {
  target: { template: "gsr-vm" },
  allow: ["derive"],
  forceIsolated: true,
  limits: { maxRunning: 2, maxStorage: "13Gi" },
});
const templates = [
  template("gsr-vm"),
  template("lab2-vm", { vmGroup: "lab2" }),
  template("base-image", { derivable: false }),
  {
    ...template("imported", { disks: [{ name: "d", source: { path: "/srv/import/d.qcow2" } }] }),
    status: { disks: [{ name: "d", path: "/srv/t/d.qcow2", virtualSize: 2 * 1024 ** 3 }] },
  },
];

interface Row {
  rule: string;
  who: Requester;
  vm: VMInstance;
  old?: VMInstance;
  permissions?: Permission[];
  owned?: VMInstance[];
  /** undefined: allowed; otherwise the exact sentence. */
  denied?: string;
}

function decide(row: Row) {
  const facts: ClusterFacts = {
    permissions: row.permissions ?? [studsGsrVm],
    templates,
    ownerInstances: row.owned ?? [],
  };
  return evaluate(
    { requester: row.who, instance: row.vm, oldInstance: row.old, facts },
    { adminGroups: ["gridvm:admins"] },
  );
}

const running = (name: string, spec: Partial<VMInstanceSpec> = {}) =>
  instance(name, { owner: "doraz", running: true, isolated: true, ...spec });

const rows: Row[] = [
  // owner
  {
    rule: "owner: a student may create for herself (owner defaulted)",
    who: doraz,
    vm: instance("myvm"),
  },
  {
    rule: "owner: a student may name herself",
    who: doraz,
    vm: instance("myvm", { owner: "doraz" }),
  },
  {
    rule: "owner: a student may not name another owner",
    who: alex,
    vm: instance("myvm", { owner: "doraz" }, "alex"),
    denied:
      'user "alex" may not create vminstance "myvm" for user "doraz": only admins may name another owner',
  },
  {
    rule: "owner: an admin may name another owner",
    who: badadmin,
    vm: instance("myvm", { owner: "doraz" }),
  },
  // derive
  { rule: "derive: studs may derive gsr-vm", who: alex, vm: instance("myvm", {}, "alex") },
  {
    rule: "derive: nobody grants derive to eve",
    who: eve,
    vm: instance("myvm", {}, "eve"),
    denied:
      'user "eve" may not derive template "gsr-vm": no permission grants derive on it or its VM group "lab1"',
  },
  {
    rule: "derive: a grant on the VM group counts",
    who: eve,
    vm: instance("myvm", {}, "eve"),
    permissions: [
      permission("eve-lab1", {
        subjects: [{ kind: "User", name: "eve" }],
        target: { vmGroup: "lab1" },
        allow: ["derive"],
      }),
    ],
  },
  {
    rule: "derive: a grant on another VM group does not",
    who: eve,
    vm: instance("myvm", {}, "eve"),
    permissions: [
      permission("eve-lab2", {
        subjects: [{ kind: "User", name: "eve" }],
        target: { vmGroup: "lab2" },
        allow: ["derive"],
      }),
    ],
    denied:
      'user "eve" may not derive template "gsr-vm": no permission grants derive on it or its VM group "lab1"',
  },
  {
    rule: "derive: run or modify alone is not derive",
    who: alex,
    vm: instance("myvm", {}, "alex"),
    permissions: [
      permission("studs-run", { target: { template: "gsr-vm" }, allow: ["run", "modify"] }),
    ],
    denied:
      'user "alex" may not derive template "gsr-vm": no permission grants derive on it or its VM group "lab1"',
  },
  {
    rule: "derive: a template that is not derivable",
    who: alex,
    vm: instance("myvm", { template: "base-image" }, "alex"),
    permissions: [permission("studs-lab1", { target: { vmGroup: "lab1" }, allow: ["derive"] })],
    denied: 'user "alex" may not derive template "base-image": it is not derivable',
  },
  {
    rule: "derive: a missing template",
    who: alex,
    vm: instance("myvm", { template: "nope" }, "alex"),
    denied: 'user "alex" may not derive template "nope": it does not exist',
  },
  {
    rule: "derive: a grant naming a missing template matches nothing and breaks nothing",
    who: alex,
    vm: instance("myvm", {}, "alex"),
    permissions: [
      permission("ghost", {
        target: { template: "ghost-vm" },
        allow: ["derive", "run"],
        forceIsolated: true,
      }),
      studsGsrVm,
    ],
  },
  { rule: "derive: an admin needs no grant", who: badadmin, vm: instance("myvm"), permissions: [] },
  // modify (diskMode Template)
  {
    rule: "modify: diskMode Template needs modify",
    who: alex,
    vm: instance("install", { diskMode: "Template" }, "alex"),
    denied:
      'user "alex" may not modify template "gsr-vm": no permission grants modify on it or its VM group "lab1"',
  },
  {
    rule: "modify: granted on the template",
    who: alex,
    vm: instance("install", { diskMode: "Template", running: true, isolated: true }, "alex"),
    permissions: [
      permission("alex-installs", {
        subjects: [{ kind: "User", name: "alex" }],
        target: { template: "gsr-vm" },
        allow: ["modify"],
      }),
    ],
  },
  // run
  {
    rule: "run: the owner may run her own derived instance without run",
    who: doraz,
    vm: running("myvm"),
  },
  {
    rule: "run: a user sharing the namespace may not run someone else's instance without run",
    who: alex,
    vm: running("myvm"),
    old: instance("myvm", { owner: "doraz", isolated: true }),
    denied:
      'user "alex" may not run vminstance "myvm": no permission grants run on its template "gsr-vm" or its VM group "lab1"',
  },
  {
    rule: "run: ... unless a permission grants run",
    who: alex,
    vm: running("myvm"),
    old: instance("myvm", { owner: "doraz", isolated: true }),
    permissions: [
      studsGsrVm,
      permission("studs-run-lab1", { target: { vmGroup: "lab1" }, allow: ["run"] }),
    ],
  },
  // isolation
  {
    rule: "isolation: forced isolation refuses an unisolated run",
    who: doraz,
    vm: running("myvm", { isolated: false }),
    denied:
      'user "doraz" may not run vminstance "myvm" unisolated: permission "studs-gsr-vm" forces isolation',
  },
  {
    rule: "isolation: the same run isolated is accepted",
    who: doraz,
    vm: running("myvm", { isolated: true }),
  },
  {
    rule: "isolation: not running, unisolated is fine",
    who: doraz,
    vm: instance("myvm", { isolated: false }),
  },
  {
    rule: "isolation: any forcing permission wins over a broader lab grant",
    who: doraz,
    vm: running("myvm", { isolated: false }),
    permissions: [
      permission("a-studs-lab1", { target: { vmGroup: "lab1" }, allow: ["derive", "run"] }),
      studsGsrVm,
    ],
    denied:
      'user "doraz" may not run vminstance "myvm" unisolated: permission "studs-gsr-vm" forces isolation',
  },
  {
    rule: "isolation: forcing on a group the user is not in does not apply",
    who: doraz,
    vm: running("myvm", { isolated: false }),
    permissions: [
      permission("studs-lab1", { target: { vmGroup: "lab1" }, allow: ["derive"] }),
      permission("exam-lab1", {
        subjects: [{ kind: "Group", name: "exam-takers" }],
        target: { vmGroup: "lab1" },
        forceIsolated: true,
      }),
    ],
  },
  {
    rule: "isolation: an admin may run unisolated",
    who: badadmin,
    vm: running("myvm", { isolated: false }),
  },
  // maxRunning
  {
    rule: "maxRunning: a second running VM is within 2",
    who: doraz,
    vm: running("vm2"),
    owned: [running("vm1")],
  },
  {
    rule: "maxRunning: a third running VM is over 2",
    who: doraz,
    vm: running("vm3"),
    owned: [running("vm1"), running("vm2", {}), instance("stopped", { owner: "doraz" })],
    denied:
      'user "doraz" may not run vminstance "vm3": permission "studs-gsr-vm" allows at most 2 running VMs on template "gsr-vm" and 2 already run',
  },
  {
    rule: "maxRunning: starting an existing instance counts the others, not itself",
    who: doraz,
    vm: running("vm2"),
    old: instance("vm2", { owner: "doraz", isolated: true }),
    owned: [running("vm1"), instance("vm2", { owner: "doraz", isolated: true })],
  },
  {
    rule: "maxRunning: an already running instance being edited is not re-counted",
    who: doraz,
    vm: running("vm3", { timeLimit: "2h" }),
    old: running("vm3"),
    owned: [running("vm1"), running("vm2"), running("vm3")],
  },
  {
    rule: "maxRunning: VMs of other templates do not count against a template's limit",
    who: doraz,
    vm: running("vm3"),
    owned: [running("vm1"), running("lab2", { template: "lab2-vm" })],
  },
  {
    rule: "maxRunning: the strictest applicable limit wins",
    who: doraz,
    vm: running("vm2"),
    owned: [running("vm1")],
    permissions: [
      studsGsrVm,
      permission("studs-lab1-cap", { target: { vmGroup: "lab1" }, limits: { maxRunning: 1 } }),
    ],
    denied:
      'user "doraz" may not run vminstance "vm2": permission "studs-lab1-cap" allows at most 1 running VMs on VM group "lab1" and 1 already run',
  },
  {
    rule: "maxRunning: other users' instances do not count",
    who: doraz,
    vm: running("vm3"),
    owned: [running("a1", { owner: "alex" }), running("a2", { owner: "alex" })],
  },
  {
    rule: "maxRunning: an admin is not limited",
    who: badadmin,
    vm: running("vm3"),
    owned: [running("vm1"), running("vm2")],
  },
  // maxStorage
  {
    rule: "maxStorage: a second 5Gi overlay fits in 13Gi",
    who: doraz,
    vm: instance("vm2"),
    owned: [instance("vm1", { owner: "doraz" })],
  },
  {
    rule: "maxStorage: a third 5Gi overlay is over 13Gi",
    who: doraz,
    vm: instance("vm3"),
    owned: [instance("vm1", { owner: "doraz" }), instance("vm2", { owner: "doraz" })],
    denied:
      'user "doraz" may not derive template "gsr-vm" as vminstance "vm3": permission "studs-gsr-vm" allows 13Gi of storage on template "gsr-vm", 10Gi is in use and this needs 5Gi',
  },
  {
    rule: "maxStorage: diskMode Template instances use the template's discs, not the owner's",
    who: doraz,
    vm: instance("vm3"),
    owned: [
      instance("vm1", { owner: "doraz" }),
      instance("t1", { owner: "doraz", diskMode: "Template" }),
      instance("t2", { owner: "doraz", diskMode: "Template" }),
    ],
  },
  {
    rule: "maxStorage: an imported disc counts its measured size",
    who: doraz,
    vm: instance("big", { template: "imported" }),
    permissions: [
      permission("studs-lab1", {
        target: { vmGroup: "lab1" },
        allow: ["derive"],
        limits: { maxStorage: "1Gi" },
      }),
    ],
    denied:
      'user "doraz" may not derive template "imported" as vminstance "big": permission "studs-lab1" allows 1Gi of storage on VM group "lab1", 0 is in use and this needs 2Gi',
  },
  // updates that change nothing the rules look at
  {
    rule: "metadata-only updates are allowed even after rights were revoked (finalizer removal)",
    who: alex,
    vm: {
      ...running("myvm", { isolated: false }),
      metadata: { name: "myvm", namespace: "doraz", finalizers: [] },
    },
    old: {
      ...running("myvm", { isolated: false }),
      metadata: { name: "myvm", namespace: "doraz", finalizers: ["gridvm.io/cleanup"] },
    },
    permissions: [],
  },
];

describe("evaluate: the paper's permission model, one row per rule", () => {
  it.each(rows.map((r) => [r.rule, r] as const))("%s", (_rule, row) => {
    const decision = decide(row);
    if (row.denied === undefined) expect(decision).toMatchObject({ allowed: true });
    else expect(decision).toMatchObject({ allowed: false, message: row.denied });
  });

  it("every rule has an allow row and a deny row", () => {
    for (const rule of [
      "owner",
      "derive",
      "modify",
      "run",
      "isolation",
      "maxRunning",
      "maxStorage",
    ]) {
      const mine = rows.filter((r) => r.rule.startsWith(`${rule}:`));
      expect(
        mine.some((r) => r.denied === undefined),
        `${rule} allow`,
      ).toBe(true);
      expect(
        mine.some((r) => r.denied !== undefined),
        `${rule} deny`,
      ).toBe(true);
    }
  });

  it("names the rule that denied", () => {
    expect(
      decide({ rule: "", who: doraz, vm: running("myvm", { isolated: false }) }),
    ).toMatchObject({ rule: "isolation" });
    expect(decide({ rule: "", who: eve, vm: instance("x") })).toMatchObject({ rule: "derive" });
  });

  it("uses the configured admin groups", () => {
    const facts: ClusterFacts = { permissions: [], templates, ownerInstances: [] };
    const req = { requester: eve, instance: instance("x"), facts };
    expect(evaluate(req, { adminGroups: ["gridvm:admins"] }).allowed).toBe(false);
    expect(
      evaluate(
        { ...req, requester: { username: "eve", groups: ["lab-staff"] } },
        { adminGroups: ["lab-staff"] },
      ).allowed,
    ).toBe(true);
  });

  it("does not depend on the order permissions are listed in", () => {
    const perms = [
      permission("z-forces", { target: { vmGroup: "lab1" }, forceIsolated: true }),
      studsGsrVm,
      permission("a-run", { target: { vmGroup: "lab1" }, allow: ["run"] }),
    ];
    const a = decide({
      rule: "",
      who: doraz,
      vm: running("myvm", { isolated: false }),
      permissions: perms,
    });
    const b = decide({
      rule: "",
      who: doraz,
      vm: running("myvm", { isolated: false }),
      permissions: [...perms].reverse(),
    });
    expect(a).toEqual(b);
    expect(a).toMatchObject({
      message: expect.stringContaining('permission "studs-gsr-vm" forces isolation'),
    });
  });
});

describe("permissionTargetCondition", () => {
  const groups: VMGroup[] = [
    {
      apiVersion: "gridvm.io/v1alpha1",
      kind: "VMGroup",
      metadata: { name: "lab1" },
      spec: {
        addresses: "10.0.0.0/24",
        gateway: { ip: "10.0.0.1", mac: "00:15:5d:07:07:8b" },
        bridge: "vbr0",
        macPrefix: "de:af:de:af",
      },
    },
  ];

  it("is True when the template or group exists", () => {
    expect(permissionTargetCondition(studsGsrVm, templates, groups)).toMatchObject({
      type: "TargetFound",
      status: "True",
    });
    expect(
      permissionTargetCondition(
        permission("g", { target: { vmGroup: "lab1" }, allow: ["run"] }),
        templates,
        groups,
      ).status,
    ).toBe("True");
  });

  it("is False, naming the missing target, otherwise", () => {
    expect(
      permissionTargetCondition(
        permission("t", { target: { template: "ghost" }, allow: ["run"] }),
        templates,
        groups,
      ),
    ).toMatchObject({
      status: "False",
      reason: "VMTemplateNotFound",
      message: 'VMTemplate "ghost" does not exist: this permission grants nothing until it does',
    });
    expect(
      permissionTargetCondition(
        permission("g", { target: { vmGroup: "lab9" }, allow: ["run"] }),
        templates,
        groups,
      ),
    ).toMatchObject({ status: "False", reason: "VMGroupNotFound" });
  });
});
