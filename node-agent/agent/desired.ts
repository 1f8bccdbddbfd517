import type { VMGroup, VMInstance, VMTemplate } from "../../controller/api/generated/types.js";
import { parseQuantity } from "../../controller/api/quantity.js";
import { tapNameFor } from "../network/names.js";
import type { DesiredVm } from "../planner/types.js";
import { subnetOf } from "./subnet.js";

/** The runtime directory key of one run: its job name, made safe as a file name. */
export function runKey(jobName: string): string {
  return jobName.replace(/[^A-Za-z0-9._-]/g, "_");
}

export interface DesiredInput {
  host: string;
  instances: readonly VMInstance[];
  templates: ReadonlyMap<string, VMTemplate>;
  groups: ReadonlyMap<string, VMGroup>;
  /** Whether the run's lease (its gridvm-job) still holds the VM. */
  leaseAlive: (uid: string, jobName: string) => boolean;
}

/** An instance placed here whose lease holds, but which cannot be realized, and why. */
export interface Unrealizable {
  namespace: string;
  name: string;
  reason: string;
  message: string;
}

/**
 * Which VMs this host must run now. Pure. A VM is wanted while its instance is placed on this
 * host with a job (the run), and that run's lease is alive; its key is the job name, so a run that
 * ended is never started again under the same key — a new run comes with a new job.
 */
export function desiredVms(input: DesiredInput): {
  vms: DesiredVm[];
  unrealizable: Unrealizable[];
} {
  const vms: DesiredVm[] = [];
  const unrealizable: Unrealizable[] = [];
  for (const inst of input.instances) {
    const st = inst.status;
    const jobName = st?.job?.name;
    const uid = inst.metadata.uid;
    if (st?.host !== input.host || !jobName || !uid || inst.metadata.deletionTimestamp) continue;
    if (!input.leaseAlive(uid, jobName)) continue;
    const namespace = inst.metadata.namespace ?? "";
    const name = inst.metadata.name ?? "";
    const miss = (reason: string, message: string) =>
      unrealizable.push({ namespace, name, reason, message });
    const template = input.templates.get(inst.spec.template);
    if (!template) {
      miss("TemplateNotFound", `vmtemplate "${inst.spec.template}" is not known on ${input.host}`);
      continue;
    }
    const group = input.groups.get(template.spec.vmGroup);
    if (!group) {
      miss("VMGroupNotFound", `vmgroup "${template.spec.vmGroup}" is not known on ${input.host}`);
      continue;
    }
    const ip = st.network?.ip;
    const mac = st.network?.mac;
    if (!ip || !mac) {
      miss("NoAddress", "the controller has not recorded an IP and MAC for this run yet");
      continue;
    }
    let subnet: string;
    try {
      subnet = subnetOf(group.spec);
    } catch (err) {
      miss("VMGroupInvalid", (err as Error).message);
      continue;
    }
    const mode = group.spec.dhcp?.mode ?? "Dnsmasq";
    const serverMac = group.spec.dhcp?.omapi?.serverMAC;
    const boot = template.spec.boot;
    const memory = inst.spec.resources?.memory ?? template.spec.resources.memory;
    vms.push({
      key: runKey(jobName),
      namespace,
      name,
      uid,
      tap: tapNameFor(uid),
      mac,
      ip,
      bridge: group.spec.bridge ?? "vbr0",
      subnet,
      isolated: st.network?.isolated ?? inst.spec.isolated ?? false,
      gateway: group.spec.gateway,
      dhcp: mode === "Dnsmasq" ? "Dnsmasq" : "External",
      ...(mode !== "Dnsmasq" && serverMac ? { externalDhcpServerMacs: [serverMac] } : {}),
      disks: (st.disks ?? []).map((d) => ({
        name: d.name,
        path: d.path,
        format: /\.(raw|img)$/.test(d.path) ? ("raw" as const) : ("qcow2" as const),
      })),
      memoryMiB: Math.ceil(Number(parseQuantity(memory)) / 2 ** 20),
      cpus: inst.spec.resources?.cpus ?? template.spec.resources.cpus ?? 1,
      ...(inst.spec.cdrom ? { cdrom: inst.spec.cdrom } : {}),
      ...(boot?.kernel
        ? {
            boot: {
              kernel: boot.kernel,
              ...(boot.initrd ? { initrd: boot.initrd } : {}),
              ...(boot.cmdline ? { cmdline: boot.cmdline } : {}),
            },
          }
        : {}),
    });
  }
  return { vms, unrealizable };
}
