import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

export interface ManifestDocument {
  file: string;
  /** 1-based position of the document in its file, for messages about unnamed objects. */
  index: number;
  object: unknown;
  /** A YAML syntax error, when the document could not be parsed. */
  error?: string;
}

/** Files named on the command line, and every *.yaml / *.yml / *.json below named folders. */
export function expandPaths(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const path of paths) {
    const stat = statSync(path);
    if (stat.isDirectory()) {
      const below = readdirSync(path).sort().map((name) => join(path, name));
      files.push(...expandPaths(below.filter((p) => statSync(p).isDirectory() || /\.(ya?ml|json)$/.test(p))));
    } else {
      files.push(path);
    }
  }
  return files;
}

/** Every document in a file (YAML streams, `kind: List` items flattened). */
export function readManifests(file: string): ManifestDocument[] {
  const docs: ManifestDocument[] = [];
  parseAllDocuments(readFileSync(file, "utf8")).forEach((doc, i) => {
    if (doc.errors.length > 0) {
      docs.push({ file, index: i + 1, object: undefined, error: doc.errors[0]!.message.split("\n")[0]! });
      return;
    }
    const object: unknown = doc.toJS();
    if (object === null || object === undefined) return;
    const items = (object as { kind?: string; items?: unknown[] }).kind === "List" ? ((object as { items?: unknown[] }).items ?? []) : [object];
    for (const item of items) docs.push({ file, index: i + 1, object: item });
  });
  return docs;
}
