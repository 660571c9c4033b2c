import { describe, expect, it } from "vitest";
import { connectorConfig, connectorSecrets, debeziumTarget } from "./connectorConfig.ts";

const secretsFile = "/run/secrets/outbox.properties";

describe("the connector's configuration", () => {
  it("names the database password by a config provider placeholder, never by its value", () => {
    const target = debeziumTarget("postgres://debezium:s3cr%40t@db:5432/health", undefined, {});
    const config = connectorConfig(target, secretsFile);
    expect(config["database.password"]).toBe(`\${file:${secretsFile}:database.password}`);
    expect(JSON.stringify(config)).not.toContain("s3cr@t");
    expect(connectorSecrets(target)).toEqual({ "database.password": "s3cr@t" });
  });

  it("passes DATABASE_URL's sslmode and certificate paths to Debezium", () => {
    const url =
      "postgres://u:p@db:5432/health?sslmode=verify-full&sslrootcert=/certs/ca.pem&sslcert=/certs/c.pem&sslkey=/certs/c.key";
    const config = connectorConfig(debeziumTarget(url, undefined, {}), secretsFile);
    expect(config).toMatchObject({
      "database.sslmode": "verify-full",
      "database.sslrootcert": "/certs/ca.pem",
      "database.sslcert": "/certs/c.pem",
      "database.sslkey": "/certs/c.key",
    });
  });

  it("takes PGSSLMODE and PGSSLROOTCERT when the URL names no sslmode, the URL winning over them", () => {
    const env = { PGSSLMODE: "require", PGSSLROOTCERT: "/etc/ssl/pg.pem" };
    const fromEnv = connectorConfig(debeziumTarget("postgres://u:p@db/health", undefined, env), secretsFile);
    expect(fromEnv).toMatchObject({
      "database.sslmode": "require",
      "database.sslrootcert": "/etc/ssl/pg.pem",
    });
    const fromUrl = connectorConfig(
      debeziumTarget("postgres://u:p@db/health?sslmode=verify-ca", undefined, env),
      secretsFile,
    );
    expect(fromUrl["database.sslmode"]).toBe("verify-ca");
  });

  it("sets no TLS option when none is configured", () => {
    const config = connectorConfig(debeziumTarget("postgres://u:p@db/health", undefined, {}), secretsFile);
    expect(Object.keys(config).filter((key) => key.startsWith("database.ssl"))).toEqual([]);
  });

  it("refuses an sslmode Debezium does not know, rather than connect without TLS", () => {
    const target = debeziumTarget("postgres://u:p@db/health?sslmode=no-verify", undefined, {});
    expect(() => connectorConfig(target, secretsFile)).toThrow(
      /DATABASE_URL's sslmode \(or PGSSLMODE\) is "no-verify": Debezium takes disable, allow, prefer, require, verify-ca, verify-full/,
    );
  });
});
