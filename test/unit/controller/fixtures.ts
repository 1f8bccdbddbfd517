import type { VMGroup, VMInstance, VMTemplate } from "../../../controller/api/generated/types.js";

/** Small builders so table rows read like the situation they describe. */
export function template(name: string, over: Partial<VMTemplate["spec"]> = {}, status: VMTemplate["status"] = readyDiscs(name)): VMTemplate {
  return {
    apiVersion: "gridvm.io/v1alpha1",
    kind: "VMTemplate",
    metadata: { name, uid: `uid-${name}` },
    spec: { vmGroup: "lab1", derivable: true, resources: { memory: "1Gi" }, disks: [{ name: "root", size: "5Gi" }], ...over },
    status,
  };
}

export function readyDiscs(name: string): VMTemplate["status"] {
  return { phase: "Ready", disks: [{ name: "root", path: `/s/templates/${name}/root.qcow2`, virtualSize: 5 << 30 }] };
}

export function instance(ns: string, name: string, spec: Partial<VMInstance["spec"]> = {}, status?: VMInstance["status"]): VMInstance {
  return {
    apiVersion: "gridvm.io/v1alpha1",
    kind: "VMInstance",
    metadata: { name, namespace: ns, uid: `uid-${ns}-${name}`, generation: 1 },
    spec: { template: "gsr-vm", owner: ns, ...spec },
    ...(status ? { status } : {}),
  };
}

export function group(name: string, addresses: string, over: Partial<VMGroup["spec"]> = {}): VMGroup {
  const gw = addresses.includes("/") ? addresses.replace(/\.0\/\d+$/, ".1") : addresses.split("-")[0]!.replace(/\.\d+$/, ".1");
  return { apiVersion: "gridvm.io/v1alpha1", kind: "VMGroup", metadata: { name, generation: 1 }, spec: { addresses, gateway: { ip: gw, mac: "00:15:5d:07:07:8b" }, ...over } };
}
