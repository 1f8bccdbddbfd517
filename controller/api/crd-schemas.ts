import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

/** A JSON-schema node as written in the CRDs (OpenAPI v3 with Kubernetes extensions). */
export interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  description?: string;
  "x-kubernetes-validations"?: CelRule[];
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  [keyword: string]: unknown;
}

export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

export interface CrdInfo {
  group: string;
  version: string;
  kind: string;
  plural: string;
  scope: "Cluster" | "Namespaced";
  schema: SchemaNode;
  /** The whole CRD manifest, to install it. */
  manifest: Record<string, unknown>;
  file: string;
}

/** The repository root: the nearest ancestor holding crds/ and package.json (works from src and dist). */
export function repoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, "crds")) && existsSync(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no gridvm repository (crds/ + package.json) above ${from}`);
    dir = parent;
  }
}

interface CrdManifest {
  kind?: string;
  spec?: {
    group: string;
    scope: "Cluster" | "Namespaced";
    names: { kind: string; plural: string };
    versions: { name: string; schema: { openAPIV3Schema: SchemaNode } }[];
  };
}

/** Reads every CustomResourceDefinition in crds/. The CRDs are the API's single source of truth. */
export function loadCrds(dir: string = join(repoRoot(), "crds")): CrdInfo[] {
  const crds: CrdInfo[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!/\.ya?ml$/.test(name)) continue;
    const file = join(dir, name);
    for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
      const manifest = doc.toJS() as CrdManifest | null;
      if (manifest?.kind !== "CustomResourceDefinition" || !manifest.spec) continue;
      for (const version of manifest.spec.versions) {
        crds.push({
          group: manifest.spec.group,
          version: version.name,
          kind: manifest.spec.names.kind,
          plural: manifest.spec.names.plural,
          scope: manifest.spec.scope,
          schema: version.schema.openAPIV3Schema,
          manifest: manifest as Record<string, unknown>,
          file,
        });
      }
    }
  }
  return crds;
}
