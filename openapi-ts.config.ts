import { defineConfig } from "@hey-api/openapi-ts";

// Regenerate with `npm run generate`; `npm run generate:check` fails when src/nomad/generated is stale.
export default defineConfig({
  input: "./openapi/nomad.yaml",
  output: {
    path: "src/nomad/generated",
    // tsconfig uses module NodeNext: relative imports need an explicit .js extension.
    module: { extension: ".js" },
    // Only the copied client runtime (client/, core/) is rendered without a `file`. It names the DOM type
    // BodyInit, which Node's types lack (hey-api/hey-api#2539), so it is not type-checked; the generated
    // sdk and types, which our code uses, still are.
    header: (ctx) =>
      ctx.file
        ? ctx.defaultValue
        : [...ctx.defaultValue, "// @ts-nocheck (bundled client runtime, see hey-api/hey-api#2539)"],
  },
  plugins: [
    "@hey-api/typescript",
    "@hey-api/sdk",
    // No baseUrl: the default client gets no address, so every call must pass a configured client.
    // throwOnError: sdk functions are typed to throw on non-2xx; a client made with createClient()
    // must set `throwOnError: true` too, since that runtime flag decides whether it really throws.
    { name: "@hey-api/client-axios", baseUrl: false, throwOnError: true },
  ],
});
