/**
 * admission.k8s.io/v1 AdmissionReview, the part we read and write. The Kubernetes client library
 * ships no type for it (it is not a REST resource), so it is spelled out here from
 * k8s.io/api/admission/v1/types.go.
 */
export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: "CREATE" | "UPDATE" | "DELETE" | "CONNECT";
  userInfo: UserInfo;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export interface JsonPatchOp {
  op: "add" | "replace" | "remove";
  path: string;
  value?: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  patch?: string;
  patchType?: "JSONPatch";
  warnings?: string[];
}

export interface AdmissionReview {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

export function reviewResponse(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response };
}

export function allowed(uid: string, patch?: readonly JsonPatchOp[]): AdmissionResponse {
  return patch && patch.length
    ? {
        uid,
        allowed: true,
        patchType: "JSONPatch",
        patch: Buffer.from(JSON.stringify(patch)).toString("base64"),
      }
    : { uid, allowed: true };
}

/** A refusal as the user sees it: kubectl prints `admission webhook "..." denied the request: <message>`. */
export function denied(
  uid: string,
  code: number,
  reason: string,
  message: string,
): AdmissionResponse {
  return { uid, allowed: false, status: { code, reason, message } };
}

/** "a/b" as a JSON Pointer segment ("a~1b"), for annotation keys. */
export function pointerSegment(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}
