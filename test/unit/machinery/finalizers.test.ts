import { describe, expect, it } from "vitest";
import {
  finalizerPatch,
  hasFinalizer,
  withFinalizer,
  withoutFinalizer,
} from "../../../controller/machinery/finalizers.js";

const F = "gridvm.io/cleanup";

describe("finalizers", () => {
  it.each([
    { list: undefined, add: [F], remove: [] },
    { list: [], add: [F], remove: [] },
    { list: ["other"], add: ["other", F], remove: ["other"] },
    { list: [F, "other"], add: [F, "other"], remove: ["other"] },
  ])("with/without on $list", ({ list, add, remove }) => {
    expect(withFinalizer(list, F)).toEqual(add);
    expect(withoutFinalizer(list, F)).toEqual(remove);
  });

  it("hasFinalizer", () => {
    expect(hasFinalizer({ metadata: { finalizers: [F] } }, F)).toBe(true);
    expect(hasFinalizer({ metadata: {} }, F)).toBe(false);
  });

  it("guards an existing list with a test of the list itself", () => {
    expect(
      finalizerPatch({ metadata: { finalizers: ["other"], resourceVersion: "7" } }, ["other", F]),
    ).toEqual([
      { op: "test", path: "/metadata/finalizers", value: ["other"] },
      { op: "replace", path: "/metadata/finalizers", value: ["other", F] },
    ]);
  });

  it("guards a missing list with a test of the resourceVersion", () => {
    expect(finalizerPatch({ metadata: { resourceVersion: "7" } }, [F])).toEqual([
      { op: "test", path: "/metadata/resourceVersion", value: "7" },
      { op: "add", path: "/metadata/finalizers", value: [F] },
    ]);
    expect(() => finalizerPatch({ metadata: {} }, [F])).toThrow(/resourceVersion/);
  });
});
