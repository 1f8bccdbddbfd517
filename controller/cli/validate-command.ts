import { ManifestValidator } from "../api/manifest-validator.js";
import { expandPaths, readManifests } from "./manifest-files.js";

export interface ValidateReport {
  lines: string[];
  checked: number;
  invalid: number;
}

/**
 * `gridvm validate FILE|DIR...`: one line `file: Kind/name: field: problem` per problem, for
 * pipelines and humans alike. Objects that are not gridvm kinds are skipped (a GitOps folder
 * also holds Namespaces and RoleBindings), but counted so "nothing checked" is visible.
 */
export function validatePaths(paths: readonly string[], validator = new ManifestValidator()): ValidateReport {
  const lines: string[] = [];
  let checked = 0;
  let invalid = 0;
  for (const file of expandPaths(paths)) {
    for (const doc of readManifests(file)) {
      if (doc.error !== undefined) {
        lines.push(`${file}: document ${doc.index}: YAML: ${doc.error}`);
        invalid++;
        continue;
      }
      const obj = doc.object as { apiVersion?: string; kind?: string; metadata?: { name?: string } };
      if (typeof obj !== "object" || !validator.handles(obj)) continue;
      checked++;
      const problems = validator.validate(obj);
      if (problems.length > 0) invalid++;
      const name = `${obj.kind}/${obj.metadata?.name ?? `<document ${doc.index}>`}`;
      for (const p of problems) lines.push(`${file}: ${name}: ${p.field || "(object)"}: ${p.message}`);
    }
  }
  return { lines, checked, invalid };
}
