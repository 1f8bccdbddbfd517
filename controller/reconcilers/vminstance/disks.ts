import type { VMInstance, VMTemplate } from "../../api/generated/types.js";
import { overlayPath } from "../../storage/disk-layout.js";

export interface InstanceDisk {
  name: string;
  path: string;
  /** The template disc an overlay is backed by; absent in Template mode. */
  backingPath?: string;
}

export type DiskPlan = { ok: true; disks: InstanceDisk[] } | { ok: false; reason: string; message: string };

/**
 * The discs an instance runs on, as a pure function of its spec, its template and the other
 * instances of that template (DESIGN invariant 4: a template with derived instances is never
 * written to, and nothing derives from a template while it is being written).
 */
export function planDisks(instance: VMInstance, template: VMTemplate | undefined, siblings: readonly VMInstance[], storageRoot: string): DiskPlan {
  const name = instance.metadata.name ?? "";
  const namespace = instance.metadata.namespace ?? "";
  if (!template) {
    return { ok: false, reason: "TemplateNotFound", message: `vmtemplate "${instance.spec.template}" does not exist; create it or fix spec.template` };
  }
  if (template.status?.phase !== "Ready" || !template.status.disks?.length) {
    return { ok: false, reason: "TemplateNotReady", message: `vmtemplate "${instance.spec.template}" has no discs yet (${template.status?.phase ?? "Pending"})` };
  }
  const others = siblings.filter((s) => s.metadata.uid !== instance.metadata.uid && !s.metadata.deletionTimestamp);
  if (instance.spec.diskMode === "Template") {
    const derived = others.filter((s) => (s.spec.diskMode ?? "Derive") === "Derive");
    if (derived.length > 0) {
      return { ok: false, reason: "TemplateInUse", message: `vmtemplate "${instance.spec.template}" has ${derived.length} derived instance(s) (${listOf(derived)}): a template with derived instances is never written to` };
    }
    const writers = others.filter((s) => s.spec.diskMode === "Template");
    if (writers.length > 0) {
      return { ok: false, reason: "TemplateInUse", message: `vmtemplate "${instance.spec.template}" is already written by ${listOf(writers)}` };
    }
    return { ok: true, disks: template.status.disks.map((d) => ({ name: d.name, path: d.path })) };
  }
  if (!template.spec.derivable) {
    return { ok: false, reason: "TemplateNotDerivable", message: `vmtemplate "${instance.spec.template}" is not derivable (spec.derivable is false)` };
  }
  const writers = others.filter((s) => s.spec.diskMode === "Template");
  if (writers.length > 0) {
    return { ok: false, reason: "TemplateBeingWritten", message: `vmtemplate "${instance.spec.template}" is being written by ${listOf(writers)}; derive from it once that instance is gone` };
  }
  const owner = instance.spec.owner ?? namespace;
  return {
    ok: true,
    disks: template.status.disks.map((d) => ({ name: d.name, path: overlayPath(storageRoot, owner, namespace, name, d.name), backingPath: d.path })),
  };
}

function listOf(instances: readonly VMInstance[]): string {
  const names = instances.slice(0, 3).map((s) => `${s.metadata.namespace}/${s.metadata.name}`);
  return instances.length > 3 ? `${names.join(", ")}, …` : names.join(", ");
}
