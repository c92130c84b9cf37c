import { nodeTooOld } from "./node-guard";

test("node:sqlite needs Node 22.13+ or 23.4+: older versions are refused before it is loaded", () => {
  for (const v of ["20.20.2", "18.0.0", "22.12.0", "23.3.0"]) expect(nodeTooOld(v)).toBe(true);
  for (const v of ["22.13.0", "22.21.1", "23.4.0", "24.0.0", "25.1.0"]) expect(nodeTooOld(v)).toBe(false);
});
