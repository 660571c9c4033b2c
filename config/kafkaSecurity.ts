// How every Kafka client of the project (and the Connect worker) authenticates and encrypts: TLS and SASL
// read from the KAFKA_SSL* and KAFKA_SASL_* variables, checked with one message per bad variable.
import { readFileSync } from "node:fs";

export const SASL_MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

export interface KafkaTls {
  /** PEM file of the certificate authorities to trust; unset, the platform's default trust store. */
  caFile?: string;
  /** The client's certificate and private key (PEM, the key unencrypted PKCS#8) for mutual TLS. */
  certFile?: string;
  keyFile?: string;
}

export interface KafkaSasl {
  mechanism: SaslMechanism;
  username: string;
  /** Read from KAFKA_SASL_PASSWORD, or from the file KAFKA_SASL_PASSWORD_FILE names (trailing newline cut). */
  password: string;
}

/** No `tls` means plaintext; no `sasl` means no authentication (or the TLS client certificate's). */
export interface KafkaSecurity {
  tls?: KafkaTls;
  sasl?: KafkaSasl;
}

/** The variables read here, in the order their problems are reported. */
export const KAFKA_SECURITY_VARIABLES = [
  "KAFKA_SSL",
  "KAFKA_SSL_CA_FILE",
  "KAFKA_SSL_CERT_FILE",
  "KAFKA_SSL_KEY_FILE",
  "KAFKA_SASL_MECHANISM",
  "KAFKA_SASL_USERNAME",
  "KAFKA_SASL_PASSWORD",
  "KAFKA_SASL_PASSWORD_FILE",
] as const;
type Variable = (typeof KAFKA_SECURITY_VARIABLES)[number];

/** A problem with one variable: the caller prints it as `NAME=value: message`. */
export interface SecurityProblem {
  variable: Variable;
  message: string;
}

/**
 * The security settings `source` describes, or every problem with them. Empty values count as unset. Files are
 * read here, at start, so that a missing certificate stops the process before it connects to anything.
 */
export function parseKafkaSecurity(source: Record<string, string | undefined>): {
  security: KafkaSecurity;
  problems: SecurityProblem[];
} {
  const value = (name: Variable) => (source[name] === "" ? undefined : source[name]);
  const problems: SecurityProblem[] = [];
  const problem = (variable: Variable, message: string) => problems.push({ variable, message });

  const sslFlag = value("KAFKA_SSL")?.toLowerCase();
  if (sslFlag !== undefined && sslFlag !== "true" && sslFlag !== "false") {
    problem("KAFKA_SSL", "must be true or false");
  }
  const files = {
    caFile: pemFile("KAFKA_SSL_CA_FILE", "CERTIFICATE"),
    certFile: pemFile("KAFKA_SSL_CERT_FILE", "CERTIFICATE"),
    keyFile: pemFile("KAFKA_SSL_KEY_FILE", "PRIVATE KEY"),
  };
  const anyFile = Object.values(files).some((file) => file !== undefined);
  if (sslFlag === "false" && anyFile) {
    problem("KAFKA_SSL", "is false, but a KAFKA_SSL_*_FILE is set: unset those, or set KAFKA_SSL=true");
  }
  if (value("KAFKA_SSL_CERT_FILE") && !value("KAFKA_SSL_KEY_FILE")) {
    problem(
      "KAFKA_SSL_KEY_FILE",
      "must be set with KAFKA_SSL_CERT_FILE (the client certificate's private key)",
    );
  }
  if (value("KAFKA_SSL_KEY_FILE") && !value("KAFKA_SSL_CERT_FILE")) {
    problem("KAFKA_SSL_CERT_FILE", "must be set with KAFKA_SSL_KEY_FILE (the client certificate)");
  }
  const tlsOn = sslFlag === "true" || (sslFlag === undefined && anyFile);

  const mechanismText = value("KAFKA_SASL_MECHANISM")?.toLowerCase();
  const mechanism = SASL_MECHANISMS.find((known) => known === mechanismText);
  const username = value("KAFKA_SASL_USERNAME");
  const password = value("KAFKA_SASL_PASSWORD");
  const passwordFile = value("KAFKA_SASL_PASSWORD_FILE");
  if (mechanismText !== undefined && mechanism === undefined) {
    problem("KAFKA_SASL_MECHANISM", `must be one of ${SASL_MECHANISMS.join(", ")}`);
  }
  if (mechanismText === undefined && (username || password || passwordFile)) {
    problem(
      "KAFKA_SASL_MECHANISM",
      `must be set (${SASL_MECHANISMS.join(", ")}) when a SASL username or password is`,
    );
  }
  if (mechanism === "plain" && !tlsOn) {
    problem(
      "KAFKA_SASL_MECHANISM",
      "is plain, which sends the password as it is: set KAFKA_SSL=true to send it over TLS",
    );
  }
  if (mechanismText !== undefined && !username) {
    problem("KAFKA_SASL_USERNAME", "must be set with KAFKA_SASL_MECHANISM");
  }
  if (password && passwordFile) {
    problem(
      "KAFKA_SASL_PASSWORD_FILE",
      "set either KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both",
    );
  }
  if (mechanismText !== undefined && !password && !passwordFile) {
    problem("KAFKA_SASL_PASSWORD", "must be set with KAFKA_SASL_MECHANISM (or KAFKA_SASL_PASSWORD_FILE)");
  }
  const filedPassword = passwordFile ? readSecretFile(passwordFile) : undefined;

  const security: KafkaSecurity = {};
  if (tlsOn) {
    security.tls = Object.fromEntries(Object.entries(files).filter(([, file]) => file !== undefined));
  }
  const secret = password ?? filedPassword;
  if (mechanism && username && secret !== undefined)
    security.sasl = { mechanism, username, password: secret };
  return { security, problems };

  function pemFile(variable: Variable, label: string): string | undefined {
    const path = value(variable);
    if (path === undefined) return undefined;
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      problem(variable, `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      return undefined;
    }
    // "PRIVATE KEY" also matches "RSA PRIVATE KEY" and "EC PRIVATE KEY".
    if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(text)) {
      problem(variable, `holds no PEM ${label.toLowerCase()} (-----BEGIN ...${label}-----)`);
      return undefined;
    }
    // A key under a passphrase, which no variable gives: every TLS handshake would fail on it ("bad decrypt").
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: *4, *ENCRYPTED/m.test(text)) {
      problem(
        variable,
        "holds an encrypted private key, which needs a passphrase no variable gives: give it unencrypted (openssl pkey -in key.pem -out unencrypted.pem)",
      );
      return undefined;
    }
    return path;
  }

  function readSecretFile(path: string): string | undefined {
    try {
      // The byte-order mark a Windows editor puts first is no part of the password: sent, it fails the login.
      const text = readFileSync(path, "utf8")
        .replace(/^\uFEFF/, "")
        .replace(/\r?\n$/, "");
      if (text === "") problem("KAFKA_SASL_PASSWORD_FILE", "names an empty file");
      return text || undefined;
    } catch (error) {
      problem(
        "KAFKA_SASL_PASSWORD_FILE",
        `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      );
      return undefined;
    }
  }
}
