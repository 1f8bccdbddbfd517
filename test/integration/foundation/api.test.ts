import { ApiextensionsV1Api } from "@kubernetes/client-node";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManifestValidator } from "../../../controller/api/manifest-validator.js";
import { readManifests } from "../../../controller/cli/manifest-files.js";
import { validatePaths } from "../../../controller/cli/validate-command.js";
import { invalidManifests } from "../../support/invalid-manifests.js";
import { createObject, deleteObject, kubeConfigFor, kubectl, refusal } from "../../support/kube.js";
import { ROOT } from "../../support/paths.js";

const validator = new ManifestValidator();
const NS = `gvm-api-${Math.random().toString(36).slice(2, 7)}`;

beforeAll(async () => {
  await kubectl(["create", "namespace", NS]);
});
afterAll(async () => {
  await kubectl(["delete", "namespace", NS, "--wait=false", "--ignore-not-found"]);
  // The examples' VMs would otherwise boot and run for the rest of the suite.
  await kubectl(["delete", "-R", "-f", join(ROOT, "examples/exam/students"), "--wait=false", "--ignore-not-found"]);
  await kubectl(["delete", "-f", join(ROOT, "examples/paper-lab/40-vminstance-doraz-myvm.yaml"), "--wait=false", "--ignore-not-found"]);
});

describe("the CRDs on a real kube-apiserver", () => {
  it("are installed and Established", async () => {
    const api = kubeConfigFor().makeApiClient(ApiextensionsV1Api);
    for (const plural of ["vmgroups", "vmtemplates", "permissions", "vminstances"]) {
      const crd = await api.readCustomResourceDefinition({ name: `${plural}.gridvm.io` });
      expect(crd.status?.conditions?.find((c) => c.type === "Established")?.status, plural).toBe("True");
      expect(crd.spec.names.categories).toContain("gridvm");
      expect(crd.spec.names.shortNames ?? []).not.toContain("vmi");
      expect(crd.spec.names.shortNames ?? []).not.toContain("vm");
    }
  });

  it("print OWNER PHASE HOST IP VNC ISOLATED AGE for vminstances", async () => {
    await kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "gridvm.io/v1alpha1", kind: "VMInstance", metadata: { name: "columns", namespace: NS }, spec: { template: "gsr-vm" } }),
    });
    const table = await kubectl(["get", "vminstances", "-n", NS]);
    expect(table.stdout.split("\n")[0]!.split(/\s+/)).toEqual(["NAME", "OWNER", "PHASE", "HOST", "IP", "VNC", "ISOLATED", "AGE"]);
    const { stdout: all } = await kubectl(["get", "gridvm", "-n", NS]);
    expect(all).toContain("vminstance.gridvm.io/columns");
  });
});

describe("the examples", () => {
  const dirs = readdirSync(join(ROOT, "examples"), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(ROOT, "examples", d.name));

  it.each(dirs)("%s passes gridvm validate, a server dry-run and a real apply", async (dir) => {
    expect(validatePaths([dir], validator).lines).toEqual([]);
    // Namespaces first, for real: a dry-run cannot put objects into a namespace it did not create.
    const namespaces = readManifestsBelow(dir).filter((o) => o.kind === "Namespace");
    if (namespaces.length) await kubectl(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: namespaces }) });
    const dry = await kubectl(["apply", "-R", "--dry-run=server", "-f", dir]);
    expect(dry.stdout).toMatch(/server dry run/);
    await kubectl(["apply", "-R", "-f", dir]);
  });
});

describe("the controller's manifests for a real cluster", () => {
  it("pass a server-side dry run (Namespace, ServiceAccount, RBAC, Deployment)", async () => {
    await kubectl(["create", "namespace", "gridvm-system"], { okExitCodes: [0, 1] });
    const dry = await kubectl(["apply", "--dry-run=server", "-f", join(ROOT, "controller/deploy/")]);
    for (const kind of ["serviceaccount/gridvm-controller", "deployment.apps/gridvm-controller", "clusterrole.rbac.authorization.k8s.io/gridvm:controller"]) {
      expect(dry.stdout).toContain(kind);
    }
  });
});

describe("invalid manifests", () => {
  const cases = invalidManifests(NS);

  it("the table is big enough to mean something", () => expect(cases.length).toBeGreaterThanOrEqual(25));

  it.each(cases.map((c) => [c.why, c] as const))("%s: the apiserver refuses it naming the field, and gridvm validate agrees", async (_why, c) => {
    const server = await refusal(createObject(c.object));
    expect([400, 422]).toContain(server.code);
    expect(server.message).toContain(c.field);
    const offline = validator.validate(c.object);
    expect(offline.map((p) => p.field)).toContain(c.field);
    // Where the refusal comes from a CEL rule, both sides say the very same sentence.
    for (const p of offline.filter((p) => p.field === c.field && !/^(Required value|unknown field|should match|Unsupported value|must |Duplicate value|Invalid value)/.test(p.message))) {
      expect(server.message).toContain(p.message);
    }
  });

  it("refuses changing an immutable field, naming it", async () => {
    const obj = { apiVersion: "gridvm.io/v1alpha1", kind: "VMInstance", metadata: { name: "immutable", namespace: NS }, spec: { template: "gsr-vm", owner: "doraz" } };
    await createObject(obj);
    const patch = await kubectl(["patch", "vminstance", "immutable", "-n", NS, "--type=merge", "-p", JSON.stringify({ spec: { template: "other" } })], { okExitCodes: [1] });
    expect(patch.exitCode).toBe(1);
    expect(patch.stderr).toMatch(/spec.template: Invalid value: .*template is immutable/);
    await deleteObject(obj);
  });
});

describe("RBAC with the paper's users", () => {
  it("doraz may manage VMInstances in her namespace only", async () => {
    await kubectl(["apply", "-f", join(ROOT, "examples/paper-lab/00-users.yaml")]);
    const mine = await kubectl(["auth", "can-i", "create", "vminstances.gridvm.io", "-n", "doraz"], { user: "doraz" });
    expect(mine.stdout).toBe("yes");
    const read = await kubectl(["get", "vminstances", "-n", "alex"], { user: "doraz", okExitCodes: [1] });
    expect(read.exitCode).toBe(1);
    expect(read.stderr).toMatch(/User "doraz" cannot list resource "vminstances" in API group "gridvm.io" in the namespace "alex"/);
    const create = await kubectl(["create", "-n", "alex", "-f", "-"], {
      user: "doraz",
      okExitCodes: [1],
      input: JSON.stringify({ apiVersion: "gridvm.io/v1alpha1", kind: "VMInstance", metadata: { name: "sneaky" }, spec: { template: "gsr-vm" } }),
    });
    expect(create.stderr).toMatch(/User "doraz" cannot create resource "vminstances" in API group "gridvm.io" in the namespace "alex"/);
  });

  it("a studs member reads the catalogue but cannot create a Permission", async () => {
    expect((await kubectl(["auth", "can-i", "list", "vmtemplates.gridvm.io"], { user: "alex" })).stdout).toBe("yes");
    const create = await kubectl(["create", "-f", "-"], {
      user: "alex",
      okExitCodes: [1],
      input: JSON.stringify({ apiVersion: "gridvm.io/v1alpha1", kind: "Permission", metadata: { name: "alex-grants-himself" }, spec: { subjects: [{ kind: "User", name: "alex" }], target: { vmGroup: "lab1" }, allow: ["run", "modify", "derive"] } }),
    });
    expect(create.stderr).toMatch(/User "alex" cannot create resource "permissions" in API group "gridvm.io" at the cluster scope/);
  });

  it("badadmin, in gridvm:admins, may manage permissions", async () => {
    expect((await kubectl(["auth", "can-i", "create", "permissions.gridvm.io"], { user: "badadmin" })).stdout).toBe("yes");
  });
});

function readManifestsBelow(dir: string): { kind?: string }[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .flatMap((e) => readManifests(join(e.parentPath, e.name)).map((d) => d.object as { kind?: string }));
}

