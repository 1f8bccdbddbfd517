import { describe, expect, it } from "vitest";
import { mutate, validate } from "../../../controller/admission/handlers.js";
import { ownerPatch } from "../../../controller/admission/mutate.js";
import type { AdmissionRequest } from "../../../controller/admission/review.js";
import {
  OWNER_GROUPS_ANNOTATION,
  ownerIdentity,
} from "../../../controller/authorization/owner-identity.js";
import type { ClusterFacts } from "../../../controller/authorization/evaluate.js";
import type { VMInstance } from "../../../controller/api/generated/types.js";

const ADMINS = ["gridvm:admins"];
const doraz = { username: "doraz", groups: ["studs"] };
const alex = { username: "alex", groups: ["studs"] };
const badadmin = { username: "badadmin", groups: ["gridvm:admins"] };

function vm(
  spec: Partial<VMInstance["spec"]> = {},
  annotations?: Record<string, string>,
): VMInstance {
  return {
    apiVersion: "gridvm.io/v1alpha1",
    kind: "VMInstance",
    metadata: { name: "myvm", namespace: "doraz", ...(annotations ? { annotations } : {}) },
    spec: { template: "gsr-vm", ...spec },
  };
}

describe("ownerPatch", () => {
  it("CREATE without owner: the requester becomes the owner and their groups are stamped", () => {
    expect(
      ownerPatch({ operation: "CREATE", requester: doraz, instance: vm(), adminGroups: ADMINS }),
    ).toEqual([
      { op: "add", path: "/spec/owner", value: "doraz" },
      {
        op: "add",
        path: "/metadata/annotations",
        value: { [OWNER_GROUPS_ANNOTATION]: '["studs"]' },
      },
    ]);
  });

  it("a forged groups annotation is overwritten with the authenticated groups", () => {
    const patch = ownerPatch({
      operation: "CREATE",
      requester: doraz,
      instance: vm({ owner: "doraz" }, { [OWNER_GROUPS_ANNOTATION]: '["gridvm:admins"]' }),
      adminGroups: ADMINS,
    });
    expect(patch).toEqual([
      { op: "add", path: "/metadata/annotations/gridvm.io~1owner-groups", value: '["studs"]' },
    ]);
  });

  it("UPDATE by a non-owner keeps the stored owner and groups", () => {
    const old = vm({ owner: "doraz" }, { [OWNER_GROUPS_ANNOTATION]: '["studs"]' });
    const patch = ownerPatch({
      operation: "UPDATE",
      requester: alex,
      instance: vm({}, { [OWNER_GROUPS_ANNOTATION]: "[]" }),
      oldInstance: old,
      adminGroups: ADMINS,
    });
    expect(patch).toEqual([
      { op: "add", path: "/spec/owner", value: "doraz" },
      { op: "add", path: "/metadata/annotations/gridvm.io~1owner-groups", value: '["studs"]' },
    ]);
  });

  it("an admin creating for someone else leaves the groups to them", () => {
    expect(
      ownerPatch({
        operation: "CREATE",
        requester: badadmin,
        instance: vm({ owner: "doraz" }),
        adminGroups: ADMINS,
      }),
    ).toEqual([]);
  });

  it("ownerIdentity reads back what was stamped, and survives garbage", () => {
    expect(
      ownerIdentity(vm({ owner: "doraz" }, { [OWNER_GROUPS_ANNOTATION]: '["studs"]' })),
    ).toEqual(doraz);
    expect(
      ownerIdentity(vm({ owner: "doraz" }, { [OWNER_GROUPS_ANNOTATION]: "{not json" })),
    ).toEqual({ username: "doraz", groups: [] });
    expect(ownerIdentity(vm())).toBeUndefined();
  });
});

function request(
  operation: "CREATE" | "UPDATE",
  user: { username: string; groups: string[] },
  object: VMInstance,
  oldObject?: VMInstance,
): AdmissionRequest {
  return {
    uid: "uid-1",
    kind: { group: "gridvm.io", version: "v1alpha1", kind: "VMInstance" },
    resource: { group: "gridvm.io", version: "v1alpha1", resource: "vminstances" },
    operation,
    namespace: "doraz",
    name: "myvm",
    userInfo: user,
    object,
    oldObject,
  };
}

const facts: ClusterFacts = {
  permissions: [
    {
      apiVersion: "gridvm.io/v1alpha1",
      kind: "Permission",
      metadata: { name: "studs-gsr-vm" },
      spec: {
        subjects: [{ kind: "Group", name: "studs" }],
        target: { template: "gsr-vm" },
        allow: ["derive"],
        forceIsolated: true,
      },
    },
  ],
  templates: [
    {
      apiVersion: "gridvm.io/v1alpha1",
      kind: "VMTemplate",
      metadata: { name: "gsr-vm" },
      spec: {
        vmGroup: "lab1",
        derivable: true,
        resources: { memory: "2Gi" },
        disks: [{ name: "root", size: "5Gi" }],
      },
    },
  ],
  ownerInstances: [],
};

describe("handlers", () => {
  it("mutate returns a base64 JSONPatch", () => {
    const { response } = mutate(request("CREATE", doraz, vm()), ADMINS);
    expect(response).toMatchObject({ uid: "uid-1", allowed: true, patchType: "JSONPatch" });
    expect(JSON.parse(Buffer.from(response.patch!, "base64").toString())).toContainEqual({
      op: "add",
      path: "/spec/owner",
      value: "doraz",
    });
  });

  it("validate denies with 403 and the evaluator's sentence, allows otherwise", async () => {
    const source = { factsFor: () => Promise.resolve(facts) };
    const denied = await validate(request("CREATE", doraz, vm({ owner: "doraz", running: true })), {
      facts: source,
      adminGroups: ADMINS,
    });
    expect(denied.response).toEqual({
      uid: "uid-1",
      allowed: false,
      status: {
        code: 403,
        reason: "Forbidden",
        message:
          'user "doraz" may not run vminstance "myvm" unisolated: permission "studs-gsr-vm" forces isolation',
      },
    });
    const ok = await validate(
      request("CREATE", doraz, vm({ owner: "doraz", running: true, isolated: true })),
      { facts: source, adminGroups: ADMINS },
    );
    expect(ok.response).toEqual({ uid: "uid-1", allowed: true });
  });

  it("validate fails closed when the facts cannot be read", async () => {
    const broken = { factsFor: () => Promise.reject(new Error("connection refused")) };
    const { response } = await validate(request("CREATE", doraz, vm()), {
      facts: broken,
      adminGroups: ADMINS,
    });
    expect(response.allowed).toBe(false);
    expect(response.status).toMatchObject({
      code: 500,
      message: expect.stringContaining("connection refused"),
    });
  });

  it("lets through what is not a VMInstance create/update (e.g. the status subresource)", async () => {
    const status = { ...request("UPDATE", doraz, vm({ running: true })), subResource: "status" };
    expect(
      (
        await validate(status, {
          facts: { factsFor: () => Promise.reject(new Error("unused")) },
          adminGroups: ADMINS,
        })
      ).response.allowed,
    ).toBe(true);
  });
});
