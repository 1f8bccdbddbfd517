/**
 * The admission webhook on the real kube-apiserver, with the paper's real identities (per-user
 * static-token kubeconfigs). The webhook runs in this process; its configurations are registered
 * under a name unique to this run and select only this run's namespaces (label
 * gridvm.io/admission-test), so other engineers' VMInstances never go through it, and they are
 * removed in afterAll whatever happened.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCertificates } from "../../../controller/admission/certs.js";
import { webhookConfigurations } from "../../../controller/admission/configurations.js";
import { ApiFactSource, informerFacts } from "../../../controller/admission/facts.js";
import { registerWebhooks, unregisterWebhooks } from "../../../controller/admission/register.js";
import {
  startAdmissionServer,
  type RunningAdmissionServer,
} from "../../../controller/admission/server.js";
import { DEFAULT_ADMIN_GROUPS } from "../../../controller/authorization/evaluate.js";
import { OWNER_GROUPS_ANNOTATION } from "../../../controller/authorization/owner-identity.js";
import type { VMInstance, VMInstanceSpec } from "../../../controller/api/generated/types.js";
import { createLogger } from "../../../controller/machinery/log.js";
import {
  createObject,
  customObjects,
  deleteObject,
  kubeConfigFor,
  kubectl,
  refusal,
} from "../../support/kube.js";
import { ROOT } from "../../support/paths.js";

const RUN = Math.random().toString(36).slice(2, 7);
const LABEL = "gridvm.io/admission-test";
const CONFIG = `gridvm-admission-test-${RUN}`;
const NS = { doraz: `gvm-adm-${RUN}-doraz`, alex: `gvm-adm-${RUN}-alex` };
const GROUP = `lab-${RUN}`;
const GSR = `gsr-vm-${RUN}`;
const LOCKED = `locked-${RUN}`;
const TINY = `tiny-${RUN}`;
const PAPER_PERMISSION = `studs-gsr-vm-${RUN}`;
const DENIED = 'admission webhook "authorize.vminstances.gridvm.io" denied the request: ';

const templates = [
  { name: GSR, size: "5Gi" },
  { name: LOCKED, size: "5Gi" },
  { name: TINY, size: "1Gi" },
].map((t) => ({
  apiVersion: "gridvm.io/v1alpha1",
  kind: "VMTemplate",
  metadata: { name: t.name },
  spec: {
    vmGroup: GROUP,
    derivable: true,
    resources: { memory: "128Mi" },
    disks: [{ name: "root", size: t.size }],
  },
}));
const permissions: { kind: string; metadata: { name: string } }[] = [];

let server: RunningAdmissionServer | undefined;
let certDir: string;

function instance(name: string, ns: string, spec: Partial<VMInstanceSpec> = {}): VMInstance {
  return {
    apiVersion: "gridvm.io/v1alpha1",
    kind: "VMInstance",
    metadata: { name, namespace: ns },
    // Delete: a controller running beside the tests removes the overlays it derives for them.
    spec: {
      template: GSR,
      ...(spec.diskMode === "Template" ? {} : { diskPolicy: "Delete" as const }),
      ...spec,
    },
  };
}

function permission(name: string, spec: Record<string, unknown>) {
  const p = {
    apiVersion: "gridvm.io/v1alpha1",
    kind: "Permission",
    metadata: { name },
    spec: { subjects: [{ kind: "Group", name: "studs" }], ...spec },
  };
  permissions.push(p);
  return p;
}

async function readInstance(ns: string, name: string): Promise<VMInstance | undefined> {
  const got = await kubectl([
    "get",
    "vminstance",
    name,
    "-n",
    ns,
    "-o",
    "json",
    "--ignore-not-found",
  ]);
  return got.stdout ? (JSON.parse(got.stdout) as VMInstance) : undefined;
}

/** The create is refused with exactly this sentence, and nothing was stored. */
async function expectRefused(obj: VMInstance, user: string, sentence: string): Promise<void> {
  const r = await refusal(createObject(obj, user));
  expect(r).toEqual({ code: 403, message: DENIED + sentence });
  expect(await readInstance(obj.metadata.namespace!, obj.metadata.name!)).toBeUndefined();
}

/** `kubectl patch` as `user`; returns the exit code and stderr (kubectl's view of a refusal). */
async function patchAs(user: string, ns: string, name: string, spec: Partial<VMInstanceSpec>) {
  const r = await kubectl(
    ["patch", "vminstance", name, "-n", ns, "--type=merge", "-p", JSON.stringify({ spec })],
    { user, okExitCodes: [1] },
  );
  return { exitCode: r.exitCode, stderr: r.stderr };
}

/** The apiserver picks configurations up asynchronously: wait until a dry-run create is mutated. */
async function webhookActive(): Promise<void> {
  const api = customObjects("badadmin");
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    const probe = await api
      .createNamespacedCustomObject({
        group: "gridvm.io",
        version: "v1alpha1",
        plural: "vminstances",
        namespace: NS.doraz,
        body: instance(`probe-${i}`, NS.doraz),
        dryRun: "All",
      })
      .catch((err: unknown) => {
        last = err;
        return undefined;
      });
    if ((probe as VMInstance | undefined)?.spec.owner === "badadmin") return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the webhook configurations never took effect: ${String(last)}`);
}

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), "gridvm-admission-"));
  const certs = await ensureCertificates(certDir);
  server = await startAdmissionServer({
    port: 0,
    cert: readFileSync(certs.certFile),
    key: readFileSync(certs.keyFile),
    facts: new ApiFactSource(kubeConfigFor()),
    adminGroups: DEFAULT_ADMIN_GROUPS,
    log: createLogger("admission-test", "warn"),
  });
  const items = Object.entries(NS).flatMap(([user, ns]) => [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { [LABEL]: RUN, "gridvm.io/owner": user } },
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "gridvm-user", namespace: ns },
      subjects: [{ kind: "User", name: user, apiGroup: "rbac.authorization.k8s.io" }],
      roleRef: { kind: "ClusterRole", name: "gridvm:user", apiGroup: "rbac.authorization.k8s.io" },
    },
  ]);
  await kubectl(["apply", "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "List", items }),
  });
  for (const t of templates) await createObject(t);
  await registerWebhooks(
    kubeConfigFor(),
    webhookConfigurations({
      name: CONFIG,
      baseUrl: `https://127.0.0.1:${server.port}`,
      caPem: readFileSync(certs.caFile),
      namespaceSelector: { matchLabels: { [LABEL]: RUN } },
    }),
  );
  await webhookActive();
});

afterAll(async () => {
  // The configurations first: with failurePolicy Fail they must never outlive this run's server.
  await unregisterWebhooks(kubeConfigFor(), CONFIG);
  await server?.close();
  // Instances explicitly, not only through the namespace: a controller beside us finalizes them.
  for (const ns of Object.values(NS)) {
    await kubectl(["delete", "vminstances", "--all", "-n", ns, "--wait=false"], {
      okExitCodes: [1],
    });
  }
  await kubectl([
    "delete",
    "namespace",
    ...Object.values(NS),
    "--wait=false",
    "--ignore-not-found",
  ]);
  for (const o of [...templates, ...permissions]) await deleteObject(o);
  await releaseFinalizers();
  rmSync(certDir, { recursive: true, force: true });
});

/**
 * When a controller runs beside these tests it puts its finalizer on our objects and removes it as
 * it cleans up (these instances never get an address: their VM group does not exist). Should it
 * stop first, our namespaces would hang in Terminating; so after a grace period, let go of ours.
 */
async function releaseFinalizers(): Promise<void> {
  const ours = async () => {
    const out = await kubectl(["get", "vminstances", "-A", "-o", "json"]);
    const left = (JSON.parse(out.stdout) as { items: VMInstance[] }).items.filter((i) =>
      Object.values(NS).includes(i.metadata.namespace!),
    );
    const tmpl = await kubectl([
      "get",
      "vmtemplates",
      ...templates.map((t) => t.metadata.name),
      "-o",
      "name",
      "--ignore-not-found",
    ]);
    return { instances: left, templates: tmpl.stdout.split("\n").filter(Boolean) };
  };
  for (let i = 0; i < 60; i++) {
    const left = await ours();
    if (!left.instances.length && !left.templates.length) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  const left = await ours();
  const unfinalize = JSON.stringify({ metadata: { finalizers: null } });
  for (const i of left.instances)
    await kubectl(
      [
        "patch",
        "vminstance",
        i.metadata.name!,
        "-n",
        i.metadata.namespace!,
        "--type=merge",
        "-p",
        unfinalize,
      ],
      { okExitCodes: [1] },
    );
  for (const t of left.templates)
    await kubectl(["patch", t, "--type=merge", "-p", unfinalize], { okExitCodes: [1] });
}

describe("the paper's session (section 5.1), command for command", () => {
  it("vmapp --permset +d,+i --ug studs --vm gsr_vm (badadmin)", async () => {
    const p = permission(PAPER_PERMISSION, {
      target: { template: GSR },
      allow: ["derive"],
      forceIsolated: true,
      limits: { maxRunning: 2, maxStorage: "13Gi" },
    });
    await kubectl(["create", "-f", "-"], { user: "badadmin", input: JSON.stringify(p) });
  });

  it("vmapp --vmadd --name myvm --base gsr_vm (doraz): derived, owned by doraz", async () => {
    await kubectl(["create", "-n", NS.doraz, "-f", "-"], {
      user: "doraz",
      input: JSON.stringify({
        apiVersion: "gridvm.io/v1alpha1",
        kind: "VMInstance",
        metadata: { name: "myvm" },
        // diskPolicy Delete only so that a controller running beside the test cleans up.
        spec: { template: GSR, diskPolicy: "Delete" },
      }),
    });
    const myvm = await readInstance(NS.doraz, "myvm");
    expect(myvm?.spec.owner).toBe("doraz");
    expect(JSON.parse(myvm?.metadata.annotations?.[OWNER_GROUPS_ANNOTATION] ?? "[]")).toContain(
      "studs",
    );
  });

  it("vmapp --vmrun --vm myvm --mem 2G: You don't have permission to run this vm unisolated", async () => {
    const r = await patchAs("doraz", NS.doraz, "myvm", {
      running: true,
      resources: { memory: "2Gi" },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      `${DENIED}user "doraz" may not run vminstance "myvm" unisolated: permission "${PAPER_PERMISSION}" forces isolation`,
    );
    expect((await readInstance(NS.doraz, "myvm"))?.spec.running).not.toBe(true);
  });

  it("vmapp --vmrun --vm myvm --mem 2G --isolate: accepted", async () => {
    expect(
      await patchAs("doraz", NS.doraz, "myvm", {
        running: true,
        isolated: true,
        resources: { memory: "2Gi" },
      }),
    ).toMatchObject({ exitCode: 0 });
    expect((await readInstance(NS.doraz, "myvm"))?.spec).toMatchObject({
      running: true,
      isolated: true,
      owner: "doraz",
    });
  });

  it("alex cannot see it, nor its VNC password Secret", async () => {
    const list = await kubectl(["get", "vminstances", "-n", NS.doraz], {
      user: "alex",
      okExitCodes: [1],
    });
    expect(list.stderr).toContain(
      `User "alex" cannot list resource "vminstances" in API group "gridvm.io" in the namespace "${NS.doraz}"`,
    );
    const get = await kubectl(["get", "vminstance", "myvm", "-n", NS.doraz], {
      user: "alex",
      okExitCodes: [1],
    });
    expect(get.exitCode).toBe(1);
    expect(
      (
        await kubectl(["auth", "can-i", "get", "secrets", "-n", NS.doraz], {
          user: "alex",
          okExitCodes: [1],
        })
      ).stdout,
    ).toBe("no");
    expect(
      (await kubectl(["auth", "can-i", "get", "secrets", "-n", NS.doraz], { user: "doraz" }))
        .stdout,
    ).toBe("yes");
  });

  it("turning isolation off while running is refused too", async () => {
    const r = await patchAs("doraz", NS.doraz, "myvm", { isolated: false });
    expect(r.stderr).toContain(
      `${DENIED}user "doraz" may not run vminstance "myvm" unisolated: permission "${PAPER_PERMISSION}" forces isolation`,
    );
  });
});

describe("one row per rule, allow and deny, on the real apiserver", () => {
  it("owner: defaulted for a student; naming someone else is refused; an admin may", async () => {
    await createObject(instance("mine", NS.alex), "alex");
    expect((await readInstance(NS.alex, "mine"))?.spec.owner).toBe("alex");
    await expectRefused(
      instance("for-doraz", NS.alex, { owner: "doraz" }),
      "alex",
      'user "alex" may not create vminstance "for-doraz" for user "doraz": only admins may name another owner',
    );
    // An admin needs no grant at all (LOCKED is granted to nobody).
    const fromAdmin = instance("from-admin", NS.doraz, { owner: "doraz", template: LOCKED });
    await createObject(fromAdmin, "badadmin");
    expect((await readInstance(NS.doraz, "from-admin"))?.spec.owner).toBe("doraz");
    // Within studs' 13Gi on GSR: keep only what later rows count on.
    await deleteObject(instance("mine", NS.alex));
  });

  it("owner: a forged owner-groups annotation is replaced by the authenticated groups", async () => {
    const forged = instance("forged", NS.alex);
    forged.metadata.annotations = { [OWNER_GROUPS_ANNOTATION]: '["gridvm:admins"]' };
    await createObject(forged, "alex");
    expect(
      (await readInstance(NS.alex, "forged"))?.metadata.annotations?.[OWNER_GROUPS_ANNOTATION],
    ).toBe('["studs","system:authenticated"]');
    await deleteObject(forged);
  });

  it("derive: allowed on the granted template, refused on another of the same VM group", async () => {
    await createObject(instance("derived", NS.alex), "alex");
    await expectRefused(
      instance("nope", NS.alex, { template: LOCKED }),
      "alex",
      `user "alex" may not derive template "${LOCKED}": no permission grants derive on it or its VM group "${GROUP}"`,
    );
    await expectRefused(
      instance("ghost", NS.alex, { template: `ghost-${RUN}` }),
      "alex",
      `user "alex" may not derive template "ghost-${RUN}": it does not exist`,
    );
  });

  it("modify: diskMode Template is refused without modify, allowed with it", async () => {
    await expectRefused(
      instance("install", NS.doraz, { template: LOCKED, diskMode: "Template" }),
      "doraz",
      `user "doraz" may not modify template "${LOCKED}": no permission grants modify on it or its VM group "${GROUP}"`,
    );
    await createObject(
      permission(`doraz-modify-${RUN}`, {
        subjects: [{ kind: "User", name: "doraz" }],
        target: { template: LOCKED },
        allow: ["modify"],
      }),
      "badadmin",
    );
    await createObject(
      instance("install", NS.doraz, { template: LOCKED, diskMode: "Template" }),
      "doraz",
    );
    expect((await readInstance(NS.doraz, "install"))?.spec.diskMode).toBe("Template");
  });

  it("run: someone sharing the namespace may not start the owner's VM without run; the owner may", async () => {
    await createObject(instance("shared", NS.doraz, { isolated: true }), "doraz");
    await kubectl([
      "create",
      "rolebinding",
      "co-manage-alex",
      "-n",
      NS.doraz,
      "--clusterrole=gridvm:user",
      "--user=alex",
    ]);
    try {
      const byAlex = await patchAs("alex", NS.doraz, "shared", { running: true });
      expect(byAlex.stderr).toContain(
        `${DENIED}user "alex" may not run vminstance "shared": no permission grants run on its template "${GSR}" or its VM group "${GROUP}"`,
      );
      expect(await patchAs("alex", NS.doraz, "shared", { timeLimit: "2h" })).toMatchObject({
        exitCode: 0,
      });
      expect(await patchAs("doraz", NS.doraz, "shared", { running: true })).toMatchObject({
        exitCode: 0,
      });
      expect((await readInstance(NS.doraz, "shared"))?.spec).toMatchObject({
        running: true,
        owner: "doraz",
        timeLimit: "2h",
      });
    } finally {
      await kubectl([
        "delete",
        "rolebinding",
        "co-manage-alex",
        "-n",
        NS.doraz,
        "--ignore-not-found",
      ]);
    }
  });

  it("isolation: refused unisolated on create as well, accepted isolated", async () => {
    await expectRefused(
      instance("exam", NS.alex, { running: true }),
      "alex",
      `user "alex" may not run vminstance "exam" unisolated: permission "${PAPER_PERMISSION}" forces isolation`,
    );
    await createObject(instance("exam", NS.alex, { running: true, isolated: true }), "alex");
  });

  describe("limits (tiny: 1Gi discs; at most 2 running and 3Gi each)", () => {
    beforeAll(async () => {
      await createObject(
        permission(`studs-tiny-${RUN}`, {
          target: { template: TINY },
          allow: ["derive"],
          limits: { maxRunning: 2, maxStorage: "3Gi" },
        }),
        "badadmin",
      );
    });

    it("maxRunning: a second running VM is accepted, a third refused", async () => {
      await createObject(instance("t1", NS.doraz, { template: TINY, running: true }), "doraz");
      await createObject(instance("t2", NS.doraz, { template: TINY, running: true }), "doraz");
      await createObject(instance("t3", NS.doraz, { template: TINY }), "doraz");
      const r = await patchAs("doraz", NS.doraz, "t3", { running: true });
      expect(r.stderr).toContain(
        `${DENIED}user "doraz" may not run vminstance "t3": permission "studs-tiny-${RUN}" allows at most 2 running VMs on template "${TINY}" and 2 already run`,
      );
      expect(await patchAs("doraz", NS.doraz, "t1", { running: false })).toMatchObject({
        exitCode: 0,
      });
      expect(await patchAs("doraz", NS.doraz, "t3", { running: true })).toMatchObject({
        exitCode: 0,
      });
    });

    it("maxStorage: the third 1Gi overlay fit in 3Gi, a fourth is refused", async () => {
      await expectRefused(
        instance("t4", NS.doraz, { template: TINY }),
        "doraz",
        `user "doraz" may not derive template "${TINY}" as vminstance "t4": permission "studs-tiny-${RUN}" allows 3Gi of storage on template "${TINY}", 3Gi is in use and this needs 1Gi`,
      );
      // Limits are per subject: alex's own usage is zero.
      await createObject(instance("t4", NS.alex, { template: TINY }), "alex");
    });
  });
});

describe("privacy and sharing", () => {
  it("the sharing example (a Role + RoleBinding in the owner's namespace) lets one user see one VM", async () => {
    const docs = parseAllDocuments(
      readFileSync(join(ROOT, "examples/paper-lab/sharing/50-share-myvm-with-ta.yaml"), "utf8"),
    ).map((d) => d.toJSON() as Record<string, unknown>);
    const retargeted = JSON.stringify({ apiVersion: "v1", kind: "List", items: docs })
      .replaceAll('"namespace":"doraz"', `"namespace":"${NS.doraz}"`)
      .replaceAll('"name":"ta01"', '"name":"alex"');
    await kubectl(["apply", "-f", "-"], { input: retargeted });
    const get = await kubectl(
      ["get", "vminstance", "myvm", "-n", NS.doraz, "-o", "jsonpath={.spec.owner}"],
      { user: "alex" },
    );
    expect(get.stdout).toBe("doraz");
    expect(
      (
        await kubectl(["get", "vminstance", "shared", "-n", NS.doraz], {
          user: "alex",
          okExitCodes: [1],
        })
      ).exitCode,
    ).toBe(1);
    expect(
      (await kubectl(["auth", "can-i", "get", "secret/myvm-vnc", "-n", NS.doraz], { user: "alex" }))
        .stdout,
    ).toBe("yes");
    expect(
      (
        await kubectl(["auth", "can-i", "get", "secret/shared-vnc", "-n", NS.doraz], {
          user: "alex",
          okExitCodes: [1],
        })
      ).stdout,
    ).toBe("no");
    expect(
      (
        await kubectl(["auth", "can-i", "patch", "vminstance/myvm", "-n", NS.doraz], {
          user: "alex",
          okExitCodes: [1],
        })
      ).stdout,
    ).toBe("no");
  });
});

describe("informer-backed facts (the standalone server's default)", () => {
  it("see the Permissions, templates and the owner's instances, and follow changes", async () => {
    const cached = await informerFacts(kubeConfigFor());
    try {
      const facts = await cached.source.factsFor("doraz");
      expect(facts.permissions.map((p) => p.metadata.name)).toContain(PAPER_PERMISSION);
      expect(facts.templates.map((t) => t.metadata.name)).toEqual(
        expect.arrayContaining([GSR, LOCKED, TINY]),
      );
      expect(
        facts.ownerInstances
          .filter((i) => i.metadata.namespace === NS.doraz)
          .map((i) => i.metadata.name),
      ).toContain("myvm");
      const later = permission(`later-${RUN}`, { target: { template: LOCKED }, allow: ["run"] });
      await createObject(later);
      for (let i = 0; i < 50; i++) {
        if (
          (await cached.source.factsFor("doraz")).permissions.some(
            (p) => p.metadata.name === later.metadata.name,
          )
        )
          return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error("the cache never saw the new Permission");
    } finally {
      await cached.stop();
    }
  });
});

describe("the webhook down", () => {
  it("refuses writes with a clear message and stores nothing", async () => {
    await server?.close();
    server = undefined;
    const obj = instance("while-down", NS.doraz, { isolated: true });
    const r = await refusal(createObject(obj, "doraz"));
    expect(r.code).toBe(500);
    expect(r.message).toMatch(
      /failed calling webhook "owner\.vminstances\.gridvm\.io": failed to call webhook: Post "https:\/\/127\.0\.0\.1:\d+\/mutate-vminstance\?timeout=5s": dial tcp 127\.0\.0\.1:\d+: connect: connection refused/,
    );
    expect(await readInstance(NS.doraz, "while-down")).toBeUndefined();
    const patch = await patchAs("doraz", NS.doraz, "myvm", { running: false });
    expect(patch.stderr).toContain('failed calling webhook "owner.vminstances.gridvm.io"');
    expect((await readInstance(NS.doraz, "myvm"))?.spec.running).toBe(true);
  });
});
