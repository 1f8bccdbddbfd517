import type { VMInstance } from "../api/generated/types.js";
import { decidedWithoutFacts, evaluate } from "../authorization/evaluate.js";
import type { Requester } from "../authorization/permissions.js";
import type { FactSource } from "./facts.js";
import { ownerPatch } from "./mutate.js";
import { allowed, denied, type AdmissionRequest, type AdmissionResponse } from "./review.js";

export interface HandlerOptions {
  facts: FactSource;
  adminGroups: readonly string[];
}

export interface Verdict {
  response: AdmissionResponse;
  /** For the log line: which rule denied, or why it was allowed. */
  detail: string;
}

function requesterOf(req: AdmissionRequest): Requester {
  return { username: req.userInfo.username ?? "", groups: req.userInfo.groups ?? [] };
}

/** Only VMInstance CREATE/UPDATE is ours; anything else the apiserver sends is let through untouched. */
function isOurs(
  req: AdmissionRequest,
): req is AdmissionRequest & { operation: "CREATE" | "UPDATE" } {
  return (
    req.resource.group === "gridvm.io" &&
    req.resource.resource === "vminstances" &&
    !req.subResource &&
    (req.operation === "CREATE" || req.operation === "UPDATE")
  );
}

/** /mutate-vminstance: stamps spec.owner and the owner-groups annotation. */
export function mutate(req: AdmissionRequest, adminGroups: readonly string[]): Verdict {
  if (!isOurs(req) || !req.object) return { response: allowed(req.uid), detail: "not ours" };
  const patch = ownerPatch({
    operation: req.operation,
    requester: requesterOf(req),
    instance: req.object as VMInstance,
    oldInstance: req.oldObject as VMInstance | undefined,
    adminGroups,
  });
  return {
    response: allowed(req.uid, patch),
    detail: patch.length ? patch.map((p) => `${p.op} ${p.path}`).join(", ") : "no change",
  };
}

/**
 * /validate-vminstance: the evaluator's decision. A denial is a 403 whose message is the
 * evaluator's sentence; failing to read the facts is a 500 — never an allow (fail closed, like
 * failurePolicy: Fail).
 */
export async function validate(req: AdmissionRequest, opts: HandlerOptions): Promise<Verdict> {
  if (!isOurs(req) || !req.object) return { response: allowed(req.uid), detail: "not ours" };
  const requester = requesterOf(req);
  const instance = req.object as VMInstance;
  const oldInstance = req.oldObject as VMInstance | undefined;
  const early = decidedWithoutFacts(
    { requester, instance, oldInstance },
    { adminGroups: opts.adminGroups },
  );
  if (early?.allowed) return { response: allowed(req.uid), detail: early.reason };
  const owner = instance.spec?.owner ?? requester.username;
  let facts;
  try {
    facts = await opts.facts.factsFor(owner);
  } catch (err) {
    const message = `gridvm admission could not read permissions, templates and instances to decide: ${err instanceof Error ? err.message : String(err)}`;
    return { response: denied(req.uid, 500, "InternalError", message), detail: message };
  }
  const decision = evaluate(
    { requester, instance, oldInstance, facts },
    { adminGroups: opts.adminGroups },
  );
  return decision.allowed
    ? { response: allowed(req.uid), detail: decision.reason }
    : {
        response: denied(req.uid, 403, "Forbidden", decision.message),
        detail: `${decision.rule}: ${decision.message}`,
      };
}
