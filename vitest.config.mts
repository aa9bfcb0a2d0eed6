import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration and browser tests start real processes (Azurite, Chromium); give them room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // A local HTTPS certificate the workers trust from their start, for the keyless stack's blob service.
    globalSetup: ["test/support/tlsSetup.ts"],
  },
});
