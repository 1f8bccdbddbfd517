import type { KubeConfig } from "@kubernetes/client-node";
import { isDeepStrictEqual } from "node:util";
import { API_VERSION, VMTemplateResource, type VMInstance, type VMTemplate, type VMTemplateStatus } from "../../api/generated/types.js";
import { parseQuantity } from "../../api/quantity.js";
import type { Store } from "../../machinery/cache.js";
import type { Clock } from "../../machinery/clock.js";
import { setConditions, type Condition } from "../../machinery/conditions.js";
import type { EventRecorder } from "../../machinery/events.js";
import { GRIDVM_FINALIZER, hasFinalizer, patchFinalizer } from "../../machinery/finalizers.js";
import { collectionPath } from "../../machinery/kube-request.js";
import type { Logger } from "../../machinery/log.js";
import type { ReconcileResult } from "../../machinery/workqueue.js";
import { templateDiskPath } from "../../storage/disk-layout.js";
import { copyImage, createBlankDisk, fileExists, imageInfo } from "../../storage/qemu-img.js";
import { resolveInsideRoot, type StorageRoots } from "../../storage/storage-roots.js";
import { applyStatus } from "../status-apply.js";
import { CONTROLLER_FIELD_MANAGER } from "../vminstance/vminstance-controller.js";

export interface VMTemplateControllerDeps {
  kc: KubeConfig;
  templates: Store<VMTemplate>;
  instances: Store<VMInstance>;
  roots: StorageRoots;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
}

type DiskStatus = NonNullable<VMTemplateStatus["disks"]>[number];

/** Instances that use a template (any disk mode), for invariant 4 and the deletion guard. */
export function instancesOf(template: string, instances: readonly VMInstance[]): VMInstance[] {
  return instances.filter((i) => i.spec.template === template && !i.metadata.deletionTimestamp);
}

/**
 * Makes a template's discs exist under the storage root — blank qcow2 discs, copies of an image
 * from the import root, or adopted images — and never writes one once instances derive from it.
 */
export class VMTemplateController {
  constructor(private readonly d: VMTemplateControllerDeps) {}

  async reconcile(key: string): Promise<ReconcileResult | void> {
    // 1. Observe the template and who uses it.
    let template = this.d.templates.get(key);
    if (!template) return;
    const users = instancesOf(key, this.d.instances.list());
    const derived = users.filter((i) => (i.spec.diskMode ?? "Derive") === "Derive");
    const path = `${collectionPath(API_VERSION, VMTemplateResource.plural)}/${key}`;

    // 2. Deletion waits until no instance uses the template; its discs are kept (an admin's work).
    if (template.metadata.deletionTimestamp) {
      if (users.length > 0) {
        const names = users.slice(0, 5).map((i) => `${i.metadata.namespace}/${i.metadata.name}`).join(", ");
        const message = `deletion waits: ${users.length} vminstance(s) use this template (${names}${users.length > 5 ? ", …" : ""}); delete them first`;
        void this.d.events.warning(template, "DeletionBlocked", message);
        await this.writeStatus(template, template.status?.phase ?? "Pending", template.status?.disks ?? [], derived.length, { ok: false, reason: "DeletionBlocked", message });
        return;
      }
      if (hasFinalizer(template, GRIDVM_FINALIZER)) {
        await patchFinalizer(this.d.kc, path, template, GRIDVM_FINALIZER, "absent");
        this.d.log.info({ vmtemplate: key, disks: (template.status?.disks ?? []).map((d) => d.path) }, "template deleted; its discs are kept");
      }
      return;
    }
    if (!hasFinalizer(template, GRIDVM_FINALIZER)) template = await patchFinalizer(this.d.kc, path, template, GRIDVM_FINALIZER, "present");

    // 3. Each disc: make it if it is missing — unless instances derive from the template.
    const disks: DiskStatus[] = [];
    let problem: { reason: string; message: string } | undefined;
    try {
      await this.checkBootPaths(template);
      for (const disk of template.spec.disks) {
        const target = disk.source?.mode === "Adopt" ? await resolveInsideRoot(disk.source.path, this.d.roots.import) : templateDiskPath(this.d.roots.storage, key, disk.name);
        if (!(await fileExists(target))) {
          // A missing disc that overlays still name would be re-created under them: refuse.
          const orphans = derived.filter((i) => (i.status?.disks ?? []).some((d) => d.backingPath === target));
          if (orphans.length > 0) {
            problem = { reason: "TemplateInUse", message: `disc "${disk.name}" (${target}) is missing but ${orphans.length} overlay(s) are backed by it (e.g. ${orphans[0]!.metadata.namespace}/${orphans[0]!.metadata.name}): restore the file; a template with derived instances is never written to` };
            break;
          }
          if (disk.size) await createBlankDisk(target, parseQuantity(disk.size));
          else if (disk.source) await copyImage(await resolveInsideRoot(disk.source.path, this.d.roots.import), target);
          void this.d.events.normal(template, "DiskCreated", `disc "${disk.name}" created at ${target}`);
        }
        // Steady state: a disc already reported at this path needs no qemu-img call.
        const known = template.status?.disks?.find((d) => d.name === disk.name && d.path === target);
        if (known?.virtualSize !== undefined) {
          disks.push({ name: disk.name, path: target, virtualSize: known.virtualSize });
          continue;
        }
        const info = await imageInfo(target);
        if (info.format !== "qcow2") {
          problem = { reason: "NotQcow2", message: `disc "${disk.name}" (${target}) is ${info.format}; adopt only qcow2 images, or use mode Copy to convert` };
          break;
        }
        disks.push({ name: disk.name, path: target, virtualSize: info.virtualSize });
      }
    } catch (err) {
      problem = { reason: "DiskError", message: (err as Error).message };
    }
    // 4. One status write.
    await this.writeStatus(template, problem ? "Failed" : "Ready", disks, derived.length, problem ? { ok: false, ...problem } : { ok: true, reason: "DisksReady", message: `${disks.length} disc(s) ready` });
    if (problem) {
      void this.d.events.warning(template, problem.reason, problem.message);
      return { requeueAfterMs: 60_000 };
    }
  }

  private async checkBootPaths(template: VMTemplate): Promise<void> {
    for (const p of [template.spec.boot?.kernel, template.spec.boot?.initrd]) if (p) await resolveInsideRoot(p, this.d.roots.images);
  }

  private async writeStatus(template: VMTemplate, phase: "Pending" | "Ready" | "Failed", disks: DiskStatus[], derivedInstances: number, ready: { ok: boolean; reason: string; message: string }): Promise<void> {
    const conditions = setConditions(template.status?.conditions as Condition[] | undefined, [{ type: "Ready", status: ready.ok ? "True" : "False", reason: ready.reason, message: ready.message, observedGeneration: template.metadata.generation }], this.d.clock.now());
    const status: VMTemplateStatus = { observedGeneration: template.metadata.generation, phase, disks, derivedInstances, conditions };
    if (isDeepStrictEqual({ ...template.status }, status)) return; // a steady state makes no write
    await applyStatus(this.d.kc, { apiVersion: API_VERSION, kind: "VMTemplate", plural: VMTemplateResource.plural, name: template.metadata.name ?? "" }, status, CONTROLLER_FIELD_MANAGER);
  }
}
