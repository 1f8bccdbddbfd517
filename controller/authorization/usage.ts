import { parseQuantity } from "../api/quantity.js";
import type { Permission, VMInstance, VMTemplate } from "../api/generated/types.js";
import { aimsAt, targetOf } from "./permissions.js";

/**
 * Storage a derived instance is charged: the virtual size of its template's discs, as the paper's
 * table charges 5000 (MB) for a derived 5G disc. A copy-on-write overlay can grow to that size,
 * so a quota on anything smaller would be a promise the disc can break. An imported disc counts
 * with the size the controller measured (status.disks[].virtualSize), 0 until it has.
 */
export function templateStorage(template: VMTemplate): bigint {
  const measured = new Map((template.status?.disks ?? []).map((d) => [d.name, d.virtualSize]));
  let total = 0n;
  for (const disk of template.spec.disks) {
    if (disk.size !== undefined) total += parseQuantity(disk.size);
    else total += BigInt(measured.get(disk.name) ?? 0);
  }
  return total;
}

/** The instance's discs are the owner's (an overlay), not the template's own (diskMode Template). */
export function chargesOwnerStorage(instance: VMInstance): boolean {
  return (instance.spec.diskMode ?? "Derive") === "Derive";
}

export function sameObject(a: VMInstance, b: VMInstance): boolean {
  return a.metadata.namespace === b.metadata.namespace && a.metadata.name === b.metadata.name;
}

export interface Usage {
  running: number;
  storage: bigint;
}

/**
 * What `others` (the owner's other instances) use inside one Permission's target: a limit on
 * a permission bounds what that permission grants, so an exam's maxRunning does not count the
 * student's lab VMs.
 */
export function usageWithin(
  permission: Permission,
  others: readonly VMInstance[],
  templates: ReadonlyMap<string, VMTemplate>,
): Usage {
  let running = 0;
  let storage = 0n;
  for (const other of others) {
    const template = templates.get(other.spec.template);
    if (!aimsAt(permission, targetOf(other.spec.template, template))) continue;
    if (other.spec.running === true) running++;
    if (template && chargesOwnerStorage(other)) storage += templateStorage(template);
  }
  return { running, storage };
}
