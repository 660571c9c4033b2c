// The dependency rules `npm run lint` checks (dependency-cruiser): no import cycles, no production code
// importing test support, and the one direction every folder's imports may point, written down once below.

/**
 * What each top-level folder may import besides itself and npm packages, lowest layer first: an event flows
 * apps -> db -> relay | debezium -> Kafka (events) -> consumers, and arrows only point down this list.
 * relay/ (polling) and debezium/ read the outbox through db/outbox/ and know nothing of each other; only the
 * handover between them (handover/) imports both. scripts/, bench/, chaos/ and test/ sit on top and may import
 * anything (bench/ and chaos/ measure the platform from outside, as its users run it).
 */
const mayImport = {
  config: [],
  cli: ["config"],
  retry: [],
  observability: ["config"],
  kafka: ["config"],
  stack: ["config", "cli", "retry", "kafka"],
  events: ["config", "cli", "retry", "kafka", "stack"],
  phi: ["config", "events"],
  process: ["config", "observability", "stack", "phi"],
  db: ["config", "cli", "retry", "stack", "events", "phi"],
  audit: ["config", "cli", "retry", "observability", "process", "stack", "events", "db"],
  relay: ["config", "cli", "retry", "observability", "process", "kafka", "stack", "events", "db"],
  debezium: ["config", "cli", "retry", "observability", "kafka", "stack", "events", "db"],
  handover: [
    "config",
    "cli",
    "retry",
    "observability",
    "kafka",
    "stack",
    "events",
    "db",
    "relay",
    "debezium",
  ],
  consumers: ["config", "cli", "retry", "observability", "process", "kafka", "stack", "events", "phi", "db"],
  apps: [
    "config",
    "cli",
    "retry",
    "observability",
    "process",
    "kafka",
    "stack",
    "events",
    "phi",
    "db",
    "audit",
  ],
};

const folders = Object.keys(mayImport);
// A folder may import only folders listed before it, so folders cannot form a cycle either.
for (const [index, folder] of folders.entries()) {
  const above = mayImport[folder].filter((lower) => !folders.slice(0, index).includes(lower));
  if (above.length > 0)
    throw new Error(
      `.dependency-cruiser.cjs: ${folder} may import only folders listed before it, not ${above}`,
    );
}
const anyFolder = `^(${[...folders, "scripts", "bench", "chaos", "test"].join("|")})/`;

const layerRules = folders.map((folder) => ({
  name: `layers-${folder}`,
  comment: `${folder}/ may import only ${mayImport[folder].join(", ") || "npm packages"} (.dependency-cruiser.cjs)`,
  severity: "error",
  from: { path: `^${folder}/`, pathNot: "\\.test\\.ts$" },
  to: { path: anyFolder, pathNot: `^(${[folder, ...mayImport[folder]].join("|")})/` },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "Files import each other: move what both need below both.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-test-support-in-production",
      comment: "Production code imports test support (test/, a *.test.ts file or vitest).",
      severity: "error",
      from: {
        path: "^(apps|audit|chaos|cli|config|consumers|db|debezium|events|handover|kafka|observability|phi|process|relay|retry|scripts|stack)/",
        pathNot: "\\.test\\.ts$",
      },
      to: { path: ["^test/", "\\.test\\.ts$", "node_modules/vitest/", "node_modules/@vitest/"] },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|\\.data|dist)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".json"] },
  },
};
