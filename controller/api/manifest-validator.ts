import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsImport from "ajv-formats";
import type { Environment } from "@marcbachmann/cel-js";
import { createCelEnvironment, toCelValue } from "./cel-environment.js";
import { loadCrds, type CrdInfo, type SchemaNode } from "./crd-schemas.js";

/** One problem with one field of one object, in the apiserver's field-path notation. */
export interface Problem {
  field: string;
  message: string;
}

export interface ObjectRef {
  apiVersion?: string;
  kind?: string;
  name?: string;
}

// ajv-formats ships CommonJS with a default export that NodeNext sees as the module namespace.
const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Validates gridvm manifests offline against the CRDs' own schemas — structural schema with
 * ajv, list-type uniqueness, and the CEL `x-kubernetes-validations` evaluated by a real CEL
 * interpreter — so a GitOps pipeline learns what the apiserver would say before it applies.
 */
export class ManifestValidator {
  private readonly byKind = new Map<string, { crd: CrdInfo; validate: ValidateFunction }>();
  private readonly cel: Environment = createCelEnvironment();

  constructor(crds: CrdInfo[] = loadCrds()) {
    const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true });
    addFormats(ajv);
    ajv.addFormat("int64", true);
    ajv.addFormat("int32", true);
    for (const crd of crds) {
      this.byKind.set(`${crd.group}/${crd.version}/${crd.kind}`, {
        crd,
        validate: ajv.compile(toJsonSchema(crd.schema)),
      });
    }
  }

  /** True when this object is one of our kinds (other objects are not our business). */
  handles(obj: ObjectRef): boolean {
    return this.byKind.has(`${obj.apiVersion ?? ""}/${obj.kind ?? ""}`);
  }

  knownKinds(): string[] {
    return [...this.byKind.values()].map(({ crd }) => `${crd.group}/${crd.version} ${crd.kind}`);
  }

  /** Problems with one object as the apiserver would see it on create; empty when valid. */
  validate(obj: unknown): Problem[] {
    if (!isObject(obj)) return [{ field: "", message: "not an object" }];
    const entry = this.byKind.get(`${String(obj.apiVersion)}/${String(obj.kind)}`);
    if (!entry) return [{ field: "kind", message: `unknown kind ${String(obj.apiVersion)} ${String(obj.kind)}` }];

    const problems: Problem[] = [...metadataProblems(obj, entry.crd)];
    const defaulted = structuredClone(obj) as Record<string, unknown>;
    if (!entry.validate(defaulted)) problems.push(...(entry.validate.errors ?? []).map(fromAjvError));
    problems.push(...listTypeProblems(entry.crd.schema, defaulted, ""));
    const schemaFields = problems.map((p) => p.field);
    problems.push(...this.celProblems(entry.crd.schema, defaulted, "", schemaFields));
    return problems;
  }

  /** Evaluates each CEL rule where its value is present and the subtree passed the schema. */
  private celProblems(node: SchemaNode, value: unknown, path: string, schemaFields: string[]): Problem[] {
    if (value === undefined || value === null) return [];
    const problems: Problem[] = [];
    const brokenBelow = schemaFields.some((f) => f === path || f.startsWith(path === "" ? "" : `${path}.`) || f.startsWith(`${path}[`));
    if (!brokenBelow) {
      for (const rule of node["x-kubernetes-validations"] ?? []) {
        if (/\boldSelf\b/.test(rule.rule)) continue; // transition rules do not apply on create
        const field = join(path, rule.fieldPath?.replace(/^\./, "") ?? "");
        let ok: unknown;
        try {
          ok = this.cel.evaluate(rule.rule, { self: toCelValue(value) });
        } catch (err) {
          problems.push({ field, message: `rule ${JSON.stringify(rule.rule)} failed: ${(err as Error).message}` });
          continue;
        }
        if (ok !== true) problems.push({ field, message: rule.message ?? `failed rule: ${rule.rule}` });
      }
    }
    if (node.properties && isObject(value)) {
      for (const [key, child] of Object.entries(node.properties)) {
        problems.push(...this.celProblems(child, value[key], join(path, key), schemaFields));
      }
    }
    if (node.items && Array.isArray(value)) {
      value.forEach((item, i) => problems.push(...this.celProblems(node.items!, item, `${path}[${i}]`, schemaFields)));
    }
    return problems;
  }
}

/** CRD schema -> plain JSON schema: unknown fields are errors, as `kubectl apply` (strict) says. */
export function toJsonSchema(node: SchemaNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, val] of Object.entries(node)) {
    if (key.startsWith("x-kubernetes-") || key === "description") continue;
    if (key === "properties" && val) {
      out.properties = Object.fromEntries(
        Object.entries(val as Record<string, SchemaNode>).map(([k, v]) => [k, toJsonSchema(v)]),
      );
    } else if (key === "items" && val) {
      out.items = toJsonSchema(val as SchemaNode);
    } else {
      out[key] = val;
    }
  }
  if (node.type === "object" && node.properties && !node["x-kubernetes-preserve-unknown-fields"]) {
    out.additionalProperties = false;
  }
  return out;
}

function metadataProblems(obj: Record<string, unknown>, crd: CrdInfo): Problem[] {
  const metadata = isObject(obj.metadata) ? obj.metadata : {};
  const name = metadata.name;
  if (typeof name !== "string" || name === "") return [{ field: "metadata.name", message: "Required value: name is required" }];
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    return [{ field: "metadata.name", message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'` }];
  }
  if (crd.scope === "Cluster" && metadata.namespace !== undefined) {
    return [{ field: "metadata.namespace", message: `${crd.kind} is cluster-scoped: remove metadata.namespace` }];
  }
  return [];
}

/** x-kubernetes-list-type set/map: no two items may be equal / share their keys. */
function listTypeProblems(node: SchemaNode, value: unknown, path: string): Problem[] {
  const problems: Problem[] = [];
  if (Array.isArray(value)) {
    const listType = node["x-kubernetes-list-type"];
    if (listType === "set" || listType === "map") {
      const keys = node["x-kubernetes-list-map-keys"] ?? [];
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const id = listType === "set" ? JSON.stringify(item) : JSON.stringify(keys.map((k) => (isObject(item) ? item[k] : undefined)));
        if (seen.has(id)) problems.push({ field: `${path}[${i}]`, message: `Duplicate value: ${id}` });
        seen.add(id);
      });
    }
    if (node.items) value.forEach((item, i) => problems.push(...listTypeProblems(node.items!, item, `${path}[${i}]`)));
  } else if (isObject(value) && node.properties) {
    for (const [key, child] of Object.entries(node.properties)) {
      problems.push(...listTypeProblems(child, value[key], join(path, key)));
    }
  }
  return problems;
}

function fromAjvError(err: ErrorObject): Problem {
  const base = pointerToPath(err.instancePath);
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case "required":
      return { field: join(base, String(params.missingProperty)), message: "Required value" };
    case "additionalProperties":
      return { field: join(base, String(params.additionalProperty)), message: "unknown field" };
    case "enum":
      return { field: base, message: `Unsupported value: supported values: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}` };
    case "pattern":
      return { field: base, message: `should match '${String(params.pattern)}'` };
    default:
      return { field: base, message: err.message ?? err.keyword };
  }
}

function pointerToPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((seg) => seg.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((path, seg) => (/^[0-9]+$/.test(seg) ? `${path}[${seg}]` : join(path, seg)), "");
}

function join(path: string, key: string): string {
  if (key === "") return path;
  return path === "" ? key : `${path}.${key}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
