// The process configuration, read once from the environment and validated with one message per bad variable.
import { z } from "zod";

const brokerList = z
  .string()
  .transform((value) => value.split(",").map((broker) => broker.trim()))
  .pipe(
    z
      .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, "each broker must be host:port"))
      .min(1, "list at least one broker as host:port"),
  );

const envSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// connection URL")
    .optional(),
  KAFKA_BROKERS: brokerList.optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  RELAY_MODE: z.enum(["polling", "debezium", "off"]).default("polling"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type Env = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses the environment; empty strings count as unset so that `FOO= npm start` means "use the default". */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const present = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ""));
  const result = envSchema.safeParse(present);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const variable = String(issue.path[0]);
      return `${variable}=${JSON.stringify(source[variable])}: ${issue.message}`;
    }),
  );
}
