import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ManifestValidator } from "../../../controller/api/manifest-validator.js";
import { validatePaths } from "../../../controller/cli/validate-command.js";
import { ROOT } from "../../support/paths.js";
import { invalidManifests } from "../../support/invalid-manifests.js";

const validator = new ManifestValidator();

describe("gridvm validate (offline, against the CRDs' schemas and CEL rules)", () => {
  it("accepts every example", () => {
    const report = validatePaths([join(ROOT, "examples")], validator);
    expect(report.lines).toEqual([]);
    expect(report.checked).toBeGreaterThanOrEqual(10);
  });

  it.each(invalidManifests("doraz").map((c) => [c.why, c] as const))("refuses %s", (_why, c) => {
    const problems = validator.validate(c.object);
    expect(problems.map((p) => p.field)).toContain(c.field);
  });

  it("applies schema defaults before CEL, as the apiserver does", () => {
    // diskPolicy defaults to Keep, so Template mode alone is fine.
    const obj = { apiVersion: "gridvm.io/v1alpha1", kind: "VMInstance", metadata: { name: "t", namespace: "x" }, spec: { template: "gsr-vm", diskMode: "Template" } };
    expect(validator.validate(obj)).toEqual([]);
  });

  it("reports `file: Kind/name: field: problem` lines and skips other kinds", () => {
    const dir = mkdtempSync(join(tmpdir(), "gridvm-validate-"));
    const file = join(dir, "lab.yaml");
    writeFileSync(
      file,
      [
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}",
        "apiVersion: gridvm.io/v1alpha1\nkind: VMGroup\nmetadata: {name: lab9}\nspec:\n  addresses: 10.9.0.9-10.9.0.2\n  gateway: {ip: 10.9.0.1, mac: '00:15:5d:00:00:09'}",
      ].join("\n---\n"),
    );
    const report = validatePaths([dir], validator);
    expect(report.checked).toBe(1);
    expect(report.invalid).toBe(1);
    expect(report.lines).toEqual([`${file}: VMGroup/lab9: spec.addresses: addresses: the range's first address must not be after its last`]);
  });

  it("reports YAML syntax errors instead of throwing", () => {
    const dir = mkdtempSync(join(tmpdir(), "gridvm-validate-"));
    writeFileSync(join(dir, "broken.yaml"), "kind: VMGroup\nspec: [unclosed\n");
    const report = validatePaths([dir], validator);
    expect(report.invalid).toBe(1);
    expect(report.lines[0]).toMatch(/broken\.yaml: document 1: YAML: /);
  });
});
