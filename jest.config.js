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
      // Node's, recording failed tests so fixtures keep their logs and traces in test-results/.
      testEnvironment: "<rootDir>/test/fixtures/failure-environment.js",
      roots: ["<rootDir>/test"],
      testMatch: ["**/*.test.ts"],
      transform: { "^.+\\.ts$": tsJest },
      slowTestThreshold: 60,
    },
  ],
};
