import { describe, expect, it } from "vitest";
import {
  conditionsEqual,
  isConditionTrue,
  kubeTime,
  removeCondition,
  setCondition,
  setConditions,
  type Condition,
} from "../../../controller/machinery/conditions.js";

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0, 500);
const T1 = T0 + 60_000;
const ready = (
  status: Condition["status"],
  reason = "R",
  message = "m",
  observedGeneration?: number,
) => ({
  type: "Ready",
  status,
  reason,
  message,
  ...(observedGeneration !== undefined ? { observedGeneration } : {}),
});

describe("setCondition", () => {
  it.each([
    {
      name: "adds a new condition stamped now",
      before: [] as Condition[],
      update: ready("True"),
      want: [{ ...ready("True"), lastTransitionTime: "2025-01-01T12:01:00Z" }],
    },
    {
      name: "keeps lastTransitionTime when only reason/message/generation change",
      before: [{ ...ready("False", "Old", "old", 1), lastTransitionTime: "2025-01-01T12:00:00Z" }],
      update: ready("False", "New", "new", 2),
      want: [{ ...ready("False", "New", "new", 2), lastTransitionTime: "2025-01-01T12:00:00Z" }],
    },
    {
      name: "moves lastTransitionTime when the status flips",
      before: [{ ...ready("False"), lastTransitionTime: "2025-01-01T12:00:00Z" }],
      update: ready("True"),
      want: [{ ...ready("True"), lastTransitionTime: "2025-01-01T12:01:00Z" }],
    },
    {
      name: "keeps other conditions and their order",
      before: [
        { type: "A", status: "True", reason: "a", message: "", lastTransitionTime: "x" },
        { ...ready("Unknown"), lastTransitionTime: "y" },
        { type: "B", status: "False", reason: "b", message: "", lastTransitionTime: "z" },
      ] as Condition[],
      update: ready("True"),
      want: [
        { type: "A", status: "True", reason: "a", message: "", lastTransitionTime: "x" },
        { ...ready("True"), lastTransitionTime: "2025-01-01T12:01:00Z" },
        { type: "B", status: "False", reason: "b", message: "", lastTransitionTime: "z" },
      ],
    },
  ])("$name", ({ before, update, want }) => {
    const frozen = structuredClone(before);
    expect(setCondition(before, update, T1)).toEqual(want);
    expect(before).toEqual(frozen); // input untouched
  });

  it("kubeTime drops the milliseconds (metav1.Time)", () => {
    expect(kubeTime(T0)).toBe("2025-01-01T12:00:00Z");
  });

  it("setConditions, isConditionTrue, removeCondition, conditionsEqual", () => {
    const list = setConditions(
      undefined,
      [ready("True"), { type: "Scheduled", status: "False", reason: "Queued", message: "" }],
      T0,
    );
    expect(isConditionTrue(list, "Ready")).toBe(true);
    expect(isConditionTrue(list, "Scheduled")).toBe(false);
    expect(isConditionTrue(list, "Missing")).toBe(false);
    expect(removeCondition(list, "Ready").map((c) => c.type)).toEqual(["Scheduled"]);
    expect(conditionsEqual(list, setCondition(list, ready("True"), T1))).toBe(true);
    expect(conditionsEqual(list, setCondition(list, ready("True", "R", "other"), T1))).toBe(false);
  });
});
