import type {
  V1LabelSelector,
  V1MutatingWebhookConfiguration,
  V1ValidatingWebhookConfiguration,
} from "@kubernetes/client-node";
import { MUTATE_PATH, VALIDATE_PATH } from "./server.js";

export interface WebhookConfigurationOptions {
  /** metadata.name of both configurations; say what they are, e.g. gridvm-vminstance-admission. */
  name: string;
  /** e.g. https://127.0.0.1:16444 — the local cluster's apiserver dials the webhook on loopback. */
  baseUrl: string;
  /** PEM of the CA that issued the serving certificate. */
  caPem: string | Buffer;
  /** Limits the webhooks to some namespaces (tests use a label unique to their run). */
  namespaceSelector?: V1LabelSelector;
  timeoutSeconds?: number;
}

const RULES = [
  {
    apiGroups: ["gridvm.io"],
    apiVersions: ["v1alpha1"],
    resources: ["vminstances"],
    operations: ["CREATE", "UPDATE"],
    scope: "Namespaced",
  },
];

/**
 * The Mutating- and ValidatingWebhookConfiguration for VMInstances. failurePolicy Fail: a
 * webhook that cannot be reached refuses the write rather than letting an unchecked VM through.
 */
export function webhookConfigurations(
  opts: WebhookConfigurationOptions,
): [V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration] {
  const caBundle = Buffer.from(opts.caPem).toString("base64");
  const common = {
    admissionReviewVersions: ["v1"],
    sideEffects: "None",
    failurePolicy: "Fail",
    matchPolicy: "Equivalent",
    timeoutSeconds: opts.timeoutSeconds ?? 5,
    rules: RULES,
    ...(opts.namespaceSelector ? { namespaceSelector: opts.namespaceSelector } : {}),
  };
  const metadata = { name: opts.name, labels: { "app.kubernetes.io/part-of": "gridvm" } };
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      metadata,
      webhooks: [
        {
          ...common,
          name: "owner.vminstances.gridvm.io",
          reinvocationPolicy: "Never",
          clientConfig: { url: opts.baseUrl + MUTATE_PATH, caBundle },
        },
      ],
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata,
      webhooks: [
        {
          ...common,
          name: "authorize.vminstances.gridvm.io",
          clientConfig: { url: opts.baseUrl + VALIDATE_PATH, caBundle },
        },
      ],
    },
  ];
}
