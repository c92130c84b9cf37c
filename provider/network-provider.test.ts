import { check } from "./network-provider";

// diff asks the host (provider/reachable.ts); these tests are of the diff rules alone.
jest.mock("./reachable", () => ({ mustReach: async () => undefined }));

test("check refuses, at preview, a subnet the host reserves, naming the range", async () => {
  const r = await check({}, { name: "lo", ipv4: { cidr: "127.0.0.0/8" } });
  expect(r.failures).toEqual([{ property: "ipv4.cidr", reason: expect.stringMatching(/^\[invalid_params\] ipv4\.cidr: 127\.0\.0\.0\/8 overlaps 127\.0\.0\.0\/8 \(loopback\)/) }]);
  expect((await check({}, { name: "ll", ipv4: { cidr: "169.254.0.0/16" } })).failures!.map((f) => f.reason)).toEqual([expect.stringContaining("link-local")]);
  expect((await check({}, { name: "lab", ipv4: { cidr: "10.20.0.0/24" } })).failures).toEqual([]);
});
