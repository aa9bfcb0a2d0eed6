import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration and browser tests start real processes (Azurite, Chromium); give them room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
