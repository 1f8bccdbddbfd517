import { describe, expect, it } from "vitest";
import { planDisks } from "../../../controller/reconcilers/vminstance/disks.js";
import { instance, template } from "./fixtures.js";

describe("planDisks: overlays, or the template's own discs, never both (invariant 4)", () => {
  it("derives an overlay per template disc in the owner's folder", () => {
    const plan = planDisks(instance("doraz", "myvm"), template("gsr-vm"), [], "/s");
    expect(plan).toEqual({ ok: true, disks: [{ name: "root", path: "/s/users/doraz/doraz.myvm.root.qcow2", backingPath: "/s/templates/gsr-vm/root.qcow2" }] });
  });

  it.each([
    ["the template is missing", instance("doraz", "myvm"), undefined, [], "TemplateNotFound"],
    ["the template has no discs yet", instance("doraz", "myvm"), template("gsr-vm", {}, { phase: "Pending" }), [], "TemplateNotReady"],
    ["the template is not derivable", instance("doraz", "myvm"), template("gsr-vm", { derivable: false }), [], "TemplateNotDerivable"],
    ["Template mode while instances derive from it", instance("badadmin", "install", { diskMode: "Template" }), template("gsr-vm"), [instance("doraz", "myvm")], "TemplateInUse"],
    ["deriving while someone writes the template", instance("doraz", "myvm"), template("gsr-vm"), [instance("badadmin", "install", { diskMode: "Template" })], "TemplateBeingWritten"],
  ] as const)("refuses when %s", (_name, inst, tpl, siblings, reason) => {
    const plan = planDisks(inst, tpl, siblings, "/s");
    expect(plan.ok).toBe(false);
    expect(plan.ok ? "" : plan.reason).toBe(reason);
  });

  it("Template mode uses the template's own discs when nobody derives", () => {
    const plan = planDisks(instance("badadmin", "install", { diskMode: "Template" }), template("gsr-vm"), [], "/s");
    expect(plan).toEqual({ ok: true, disks: [{ name: "root", path: "/s/templates/gsr-vm/root.qcow2" }] });
  });

  it("keeps user names that are no safe path segment apart", () => {
    const a = planDisks(instance("ns", "vm", { owner: "jane@uni.edu" }), template("gsr-vm"), [], "/s");
    const b = planDisks(instance("ns", "vm", { owner: "jane_uni.edu" }), template("gsr-vm"), [], "/s");
    expect(a.ok && b.ok && a.disks[0]!.path !== b.disks[0]!.path).toBe(true);
    expect(a.ok && a.disks[0]!.path).toMatch(/^\/s\/users\/jane_uni\.edu-[0-9a-f]{8}\//);
  });
});
