export * from "./addresses.js";
export * from "./allocate.js";
export * from "./mac.js";
export * from "./overlaps.js";
