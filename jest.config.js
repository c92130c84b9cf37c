/**
 * Two projects: `unit` (fast, parallel, beside the code) and `integration`
 * (real qemu, sshd, hostd and Pulumi CLI; run in band because they share
 * the machine's 2 cores).
 */
const tsJest = ["ts-jest", { tsconfig: "tsconfig.json", diagnostics: { warnOnly: false } }];
module.exports = {
  projects: [
    {
      displayName: "unit",
      testEnvironment: "node",
      roots: ["<rootDir>/sdk", "<rootDir>/hostd", "<rootDir>/provider", "<rootDir>/bench"],
      testMatch: ["**/*.test.ts"],
      transform: { "^.+\\.ts$": tsJest },
    },
    {
      displayName: "integration",
      testEnvironment: "node",
      roots: ["<rootDir>/test"],
      testMatch: ["**/*.test.ts"],
      transform: { "^.+\\.ts$": tsJest },
      slowTestThreshold: 60,
    },
  ],
};
