// The database schema: the domain's state tables and the outbox, the permanent history of every event.
// Migrations in db/migrations are generated from this file by drizzle-kit (`npm run db:generate`).
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  customType,
  date,
  doublePrecision,
  index,
  integer,
  json,
  jsonb,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import pg from "pg";

/**
 * A point in time (`timestamp with time zone`), read with the driver's own parser. drizzle's timestamp column
 * reads the text Postgres sends with `new Date(text)`, which takes the years 0001 to 0099 for 1901 to 1999: a
 * model trained in the year 0050, as a request may say, would read back as 1950.
 */
const parseTimestamptz: (text: string) => Date = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ);
const instant = customType<{ data: Date; driverData: string }>({
  dataType: () => "timestamp with time zone",
  toDriver: (value) => value.toISOString(),
  fromDriver: (text) => parseTimestamptz(text),
});

/** Raw bytes (hashes, signatures, ciphertext). */
const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => "bytea",
});

/** Postgres' 64-bit transaction id; kept as a decimal string in TypeScript so that no precision is lost. */
const xid8 = customType<{ data: string; driverData: string }>({
  dataType: () => "xid8",
});

export const patients = pgTable(
  "patients",
  {
    id: uuid("id").primaryKey(),
    userId: uuid("user_id"),
    firstName: text("first_name").notNull(),
    lastName: text("last_name").notNull(),
    dateOfBirth: date("date_of_birth", { mode: "string" }).notNull(),
    email: text("email").notNull(),
    phone: text("phone").notNull(),
    insuranceInfo: jsonb("insurance_info").$type<{
      provider: string;
      policyNumber: string;
      effectiveDate: string | null;
      expiryDate: string | null;
    }>(),
    medicalConditions: text("medical_conditions").array().notNull().default(sql`'{}'`),
    allergies: text("allergies").array().notNull().default(sql`'{}'`),
    consentDataSharing: boolean("consent_data_sharing").notNull().default(false),
    consentMarketing: boolean("consent_marketing").notNull().default(false),
    consentResearch: boolean("consent_research").notNull().default(false),
    consentUpdatedAt: instant("consent_updated_at"),
    createdAt: instant("created_at").notNull().default(sql`now()`),
    updatedAt: instant("updated_at").notNull().default(sql`now()`),
    // Deletion keeps the row (medical records have retention duties); GDPR erasure is a separate operation.
    deletedAt: instant("deleted_at"),
  },
  (table) => [
    // A login attempt whose username is a patient's e-mail names that patient (apps/login-attempts).
    index("patients_email_lower").on(sql`lower(${table.email})`),
    // One whose username is a patient's phone number, in any spelling, names that patient: its digits are
    // compared with the end of each number's (db/patientWithPhone.ts), a range of this index.
    index("patients_phone_digits_reversed").on(
      sql`(reverse(regexp_replace(${table.phone}, '[^0-9]', '', 'g')) COLLATE "C")`,
    ),
    // One live record per login, so that a patient's token names exactly one patient; a deleted record keeps
    // its login, and the login may register again.
    uniqueIndex("patients_user_id_live").on(table.userId).where(sql`${table.deletedAt} IS NULL`),
  ],
);

/**
 * The outbox: one row per event, appended in the writer's transaction and never updated or deleted.
 * `tx_id` + `position` are the relay's cursor: a row is only read once every transaction with a smaller
 * id has ended, so rows that commit out of insert order are never skipped. The envelope is stored as
 * `json`, which keeps its exact text, so both relays send byte-identical record values.
 */
export const outbox = pgTable(
  "outbox",
  {
    position: bigint("position", { mode: "bigint" }).primaryKey().generatedAlwaysAsIdentity(),
    txId: xid8("tx_id").notNull().default(sql`pg_current_xact_id()`),
    eventId: uuid("event_id").notNull(),
    eventType: text("event_type").notNull(),
    aggregateType: text("aggregate_type").notNull(),
    aggregateId: text("aggregate_id").notNull(),
    // 1, 2, 3, ... per aggregate, in commit order; null for events keyed by their own id (audit events).
    aggregateVersion: bigint("aggregate_version", { mode: "number" }),
    topic: text("topic").notNull(),
    messageKey: text("message_key").notNull(),
    payload: json("payload").notNull(),
    correlationId: uuid("correlation_id").notNull(),
    traceparent: text("traceparent"),
    // The W3C tracestate of the span that appended the row (vendor routing data), carried into the same header:
    // of a caller's, only the members TRACESTATE_KEYS allows (events/tracestate.ts).
    tracestate: text("tracestate"),
    createdAt: instant("created_at").notNull().default(sql`now()`),
    // Tamper evidence: `hash` covers the row's content and `previous_hash`, the hash of the aggregate's
    // previous event (null for its first, and for events keyed by their own id). See db/outbox/eventHash.ts.
    previousHash: bytea("previous_hash"),
    hash: bytea("hash").notNull(),
    // The patient the event concerns (its data's patientId), whatever its aggregate: an auditor's "everything
    // about this patient" is one index range. Null for events about nobody, and for rows written before it.
    patientId: uuid("patient_id"),
  },
  (table) => [
    index("outbox_relay_order").on(table.txId, table.position),
    index("outbox_patient_history").on(table.patientId, table.txId, table.position),
    // The auditors' other filters that stand alone: one request's trail, and every event of one type.
    index("outbox_correlation_history").on(table.correlationId, table.txId, table.position),
    index("outbox_event_type_history").on(table.eventType, table.txId, table.position),
    // One aggregate's page in history order: the version index would fetch all its events, then sort them.
    index("outbox_aggregate_history").on(table.aggregateType, table.aggregateId, table.txId, table.position),
    // Time ranges: the history is appended in time order, so a BRIN index (a few pages for millions of rows)
    // finds a day's rows without walking a busy filter's whole history.
    index("outbox_created_at").using("brin", table.createdAt),
    // An event type over a time range: a busy type has millions of rows, a day of it a few hundred.
    index("outbox_event_type_time").on(table.eventType, table.createdAt),
    // The acting user, read from the envelope itself rather than copied into a column: the outbox refuses
    // UPDATE, so a new column could never be filled for the history already written, while an expression
    // index covers every row, old and new, and can never disagree with the hashed payload.
    index("outbox_user_history").on(
      sql`((${table.payload}::jsonb -> 'metadata' ->> 'userId'))`,
      table.txId,
      table.position,
    ),
    uniqueIndex("outbox_event_id").on(table.eventId),
    // A trace header is a value or none: the polling relay leaves out a header it has no value for, and Debezium
    // would send an empty one, so the two relays would differ on a row whose column holds ''. The write path
    // stores none for an absent one; a row written by hand is held to the same.
    check("outbox_trace_headers_not_empty", sql`${table.traceparent} <> '' AND ${table.tracestate} <> ''`),
    uniqueIndex("outbox_aggregate_version").on(
      table.aggregateType,
      table.aggregateId,
      table.aggregateVersion,
    ),
  ],
);

/**
 * Each patient's data key, which encrypts the personal fields of every event about them (phi/), stored
 * wrapped (AES-256-GCM) by the master key named in `master_key_id`. Erasure destroys the key: the row stays,
 * without it, as the record that the patient was erased and so that no new key is ever made for them.
 */
export const patientKeys = pgTable(
  "patient_keys",
  {
    patientId: uuid("patient_id").primaryKey(),
    masterKeyId: text("master_key_id"),
    wrappedKey: bytea("wrapped_key"),
    createdAt: instant("created_at").notNull().default(sql`now()`),
    erasedAt: instant("erased_at"),
  },
  (table) => [
    check(
      "patient_keys_live_or_erased",
      sql`(${table.erasedAt} IS NULL) = (${table.wrappedKey} IS NOT NULL AND ${table.masterKeyId} IS NOT NULL)`,
    ),
  ],
);

/**
 * The key erased patients' e-mail addresses are hashed with (db/erasedLogins.ts): random, made by the first
 * erasure, wrapped by a master key like a patient's data key and re-wrapped by `npm run phi:rewrap`, so a
 * rotation changes no hash. One row.
 */
export const erasedLoginKey = pgTable(
  "erased_login_key",
  {
    singleton: boolean("singleton").primaryKey().default(true),
    masterKeyId: text("master_key_id").notNull(),
    wrappedKey: bytea("wrapped_key").notNull(),
    createdAt: instant("created_at").notNull().default(sql`now()`),
  },
  (table) => [check("erased_login_key_singleton_check", sql`${table.singleton}`)],
);

/**
 * The e-mail addresses and phone numbers of erased patients, as HMAC-SHA256 under the erased-login key, never
 * the address or number: of the address trimmed and lower-cased, and of each of a number's forms
 * (phi/loginPhone.ts phoneForms). A login attempt that types one, matching no live patient, is recorded under a
 * pseudonym drawn from the hash (apps/login-attempts/routes.ts).
 */
export const erasedLogins = pgTable("erased_logins", {
  /** The hash of an address, or of a phone number's form (the column predates phone numbers). */
  emailHash: bytea("email_hash").primaryKey(),
  /** The first erasure of a patient with this address or form. */
  erasedAt: instant("erased_at").notNull(),
  /**
   * For a phone number's form, the hash of the whole number, which names the pseudonym: the same for every
   * spelling of the number. Null for an address, whose own hash names it.
   */
  pseudonymHash: bytea("pseudonym_hash"),
});

/**
 * The e-mail addresses and phone numbers a patient had before a change of them, hashed as erased_logins holds an
 * erased patient's (the same key and normalization; a number as each of its forms), never the address or number.
 * A login attempt typing a former one is the patient's, sealed under their key as one typing their current one
 * is: recorded as typed instead, it named no patient and outlived their erasure in plain text
 * (apps/login-attempts/former-email.int.test.ts, phone-login.int.test.ts). Gone with the patient's row at their
 * erasure, which records every address and number their history holds in erased_logins.
 */
export const patientFormerLogins = pgTable(
  "patient_former_logins",
  {
    emailHash: bytea("email_hash").notNull(),
    patientId: uuid("patient_id")
      .notNull()
      .references(() => patients.id, { onDelete: "cascade" }),
    /**
     * When a change of e-mail (or phone) first replaced this address (or number); for one changed before such
     * changes were recorded, when `npm run phi:former-logins` found it in the history.
     */
    replacedAt: instant("replaced_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.emailHash, table.patientId] })],
);

/**
 * The latest version of each aggregate that has events. Bumping it is the first thing an append does, so
 * two transactions writing the same aggregate serialize on this row (see db/outbox/appendEvents.ts).
 */
export const aggregateVersions = pgTable(
  "aggregate_versions",
  {
    aggregateType: text("aggregate_type").notNull(),
    aggregateId: text("aggregate_id").notNull(),
    version: bigint("version", { mode: "number" }).notNull(),
    /** The hash of the aggregate's latest event: the next event's `previous_hash`. */
    lastHash: bytea("last_hash").notNull(),
  },
  (table) => [primaryKey({ columns: [table.aggregateType, table.aggregateId] })],
);

/** Where each polling relay has got to: everything at or before (tx_id, position) has been acknowledged. */
export const relayCheckpoints = pgTable("relay_checkpoints", {
  name: text("name").primaryKey(),
  txId: xid8("tx_id").notNull(),
  position: bigint("position", { mode: "bigint" }).notNull(),
  updatedAt: instant("updated_at").notNull().default(sql`now()`),
});

/**
 * Which relay publishes the outbox: one row that the switch (handover/switch.ts) writes and every relay reads
 * before it publishes. No row means the polling relay.
 */
export const relayMode = pgTable(
  "relay_mode",
  {
    singleton: boolean("singleton").primaryKey().default(true),
    mode: text("mode").notNull(),
    /** Where the last switch handed over, and whether it finished. */
    handover: jsonb("handover"),
    changedAt: instant("changed_at").notNull().default(sql`now()`),
  },
  (table) => [
    check("relay_mode_singleton_check", sql`${table.singleton}`),
    check("relay_mode_mode_check", sql`${table.mode} IN ('polling', 'debezium')`),
  ],
);

/**
 * One row that Debezium updates every heartbeat (its `heartbeat.action.query`), so that its replication slot
 * keeps advancing while the outbox is quiet. Its name is debezium/connectorConfig.ts's HEARTBEAT_TABLE.
 */
export const debeziumHeartbeat = pgTable("debezium_heartbeat", {
  id: integer("id").primaryKey(),
  beatAt: instant("beat_at").notNull(),
});

/**
 * Sealed checkpoints over the whole history: each one extends a running hash over every outbox row's hash,
 * in (tx_id, position) order, up to its cursor, and is signed (Ed25519). A row removed, inserted or moved
 * before a checkpoint changes that running hash. See audit/.
 */
export const outboxCheckpoints = pgTable("outbox_checkpoints", {
  sequence: bigint("sequence", { mode: "number" }).primaryKey(),
  upToTxId: xid8("up_to_tx_id").notNull(),
  upToPosition: bigint("up_to_position", { mode: "bigint" }).notNull(),
  rowCount: bigint("row_count", { mode: "number" }).notNull(),
  chainHash: bytea("chain_hash").notNull(),
  keyId: text("key_id").notNull(),
  signature: bytea("signature").notNull(),
  sealedAt: instant("sealed_at").notNull(),
});

/**
 * The history moved out of the outbox into archive files once older than the retention period, always cut at
 * a sealed checkpoint's cursor. Recording an archive here, signed, in the same transaction is the only way
 * the outbox lets rows be deleted, and only rows at or before its cut (migration 0010). Append-only.
 */
export const outboxArchives = pgTable("outbox_archives", {
  sequence: bigint("sequence", { mode: "number" }).primaryKey(),
  /** The checkpoint the archive ends at: its running hash and row count anchor what remains. */
  checkpointSequence: bigint("checkpoint_sequence", { mode: "number" })
    .notNull()
    .references(() => outboxCheckpoints.sequence),
  /** The checkpoint the previous archive ended at (0: the start of the history): where this one begins. */
  afterCheckpointSequence: bigint("after_checkpoint_sequence", { mode: "number" }).notNull(),
  upToTxId: xid8("up_to_tx_id").notNull(),
  upToPosition: bigint("up_to_position", { mode: "bigint" }).notNull(),
  rowCount: bigint("row_count", { mode: "number" }).notNull(),
  /** The archived chain heads (outbox_archive_heads): how many, and a hash over them in position order. */
  headCount: bigint("head_count", { mode: "number" }).notNull(),
  headsHash: bytea("heads_hash").notNull(),
  fileName: text("file_name").notNull(),
  fileSha256: bytea("file_sha256").notNull(),
  /** The retention cutoff: every archived row was created before it. */
  createdBefore: instant("created_before").notNull(),
  keyId: text("key_id").notNull(),
  signature: bytea("signature").notNull(),
  archivedAt: instant("archived_at").notNull(),
  /**
   * Whether its events' payload digests are kept (outbox_archived_digests): false only for the archives recorded
   * before migration 0029, whose deleted rows no migration could digest. Not signed: the triggers keep it.
   */
  digestsKept: boolean("digests_kept").notNull().default(true),
  /**
   * The SHA-256 over its kept digests (outbox_archived_digests with its sequence), one line per digest in event id
   * order (audit/archive.ts DigestsHash), covered by its signature: null only for the archives recorded before
   * migration 0031, whose digests belong to no archive; every later one has it (the triggers).
   */
  digestsHash: bytea("digests_hash"),
});

/**
 * Each aggregate's last archived event: a remaining event whose predecessor was archived links to it, so a
 * chain stays verifiable across the cut. Append-only, and covered by its archive's signed `heads_hash`.
 */
export const outboxArchiveHeads = pgTable(
  "outbox_archive_heads",
  {
    archiveSequence: bigint("archive_sequence", { mode: "number" }).notNull(),
    /** The archived event's outbox position. */
    position: bigint("position", { mode: "bigint" }).notNull(),
    aggregateType: text("aggregate_type").notNull(),
    aggregateId: text("aggregate_id").notNull(),
    version: bigint("version", { mode: "number" }).notNull(),
    hash: bytea("hash").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.archiveSequence, table.position] }),
    uniqueIndex("outbox_archive_heads_aggregate_version").on(
      table.aggregateType,
      table.aggregateId,
      table.version,
    ),
  ],
);

/**
 * Each archived event's id and the SHA-256 of its payload (the envelope text as stored, UTF-8), kept by the
 * transaction that deletes its row (migration 0029): what a consumer checks a record of an archived event against,
 * as it checks a held event against its outbox row. Append-only; only an archiving transaction adds to it, and
 * only for the rows it archives, each with the archive it records.
 */
export const outboxArchivedDigests = pgTable(
  "outbox_archived_digests",
  {
    eventId: uuid("event_id").primaryKey(),
    payloadSha256: bytea("payload_sha256").notNull(),
    /**
     * The archive that kept it, whose signed `digests_hash` covers it (migration 0031): null only for the digests
     * kept before, by the archives that have no such hash.
     */
    archiveSequence: bigint("archive_sequence", { mode: "number" }).references(() => outboxArchives.sequence),
  },
  // Verification reads an archive's digests in event id order, as they were hashed.
  (table) => [index("outbox_archived_digests_archive").on(table.archiveSequence, table.eventId)],
);

// ---------------------------------------------------------------------------------------------------------
// Consumers (consumers/): the inbox that turns redeliveries into no-ops, and each consumer's own tables.

/**
 * The events each consumer has processed. A consumer's handler writes its changes and this row in one
 * transaction, so a redelivered event (same consumer, same event id) finds its row and changes nothing.
 * Where the record was read is kept for operators: which offset of which partition produced the effect.
 */
export const consumerInbox = pgTable(
  "consumer_inbox",
  {
    consumer: text("consumer").notNull(),
    eventId: uuid("event_id").notNull(),
    eventType: text("event_type").notNull(),
    topic: text("topic").notNull(),
    kafkaPartition: integer("kafka_partition").notNull(),
    kafkaOffset: bigint("kafka_offset", { mode: "bigint" }).notNull(),
    processedAt: instant("processed_at").notNull().default(sql`now()`),
    /** SHA-256 of the record's value: a later record with the event's id and another value is refused. Null
     * in entries recorded before it was kept. */
    valueSha256: bytea("value_sha256"),
    /**
     * The event's aggregate and its version there (outbox.aggregate_version), copied from its outbox row: a record
     * of an older event than one of its aggregate the consumer has applied from the same topic is skipped, never
     * applied over it (consumers/runtime/inbox.ts). Null for events keyed by their own id, for those read from an archive's
     * digest, and in entries recorded before they were kept.
     */
    aggregateType: text("aggregate_type"),
    aggregateId: text("aggregate_id"),
    aggregateVersion: bigint("aggregate_version", { mode: "number" }),
  },
  (table) => [
    primaryKey({ columns: [table.consumer, table.eventId] }),
    // The newest event of an aggregate a consumer has applied from a topic: one step down the index.
    index("consumer_inbox_aggregate_order")
      .on(table.consumer, table.topic, table.aggregateType, table.aggregateId, table.aggregateVersion)
      .where(sql`${table.aggregateVersion} IS NOT NULL`),
  ],
);

/**
 * The provider-facing patient directory, projected from patient-events: who the patient is, how to reach
 * them and what they consented to. A deleted patient keeps a row with every personal field cleared, so that
 * a late event about them is recognised and ignored rather than bringing them back.
 */
export const patientDirectory = pgTable("patient_directory", {
  patientId: uuid("patient_id").primaryKey(),
  firstName: text("first_name"),
  lastName: text("last_name"),
  email: text("email"),
  phone: text("phone"),
  consentDataSharing: boolean("consent_data_sharing").notNull().default(false),
  consentMarketing: boolean("consent_marketing").notNull().default(false),
  consentResearch: boolean("consent_research").notNull().default(false),
  /** The envelope timestamp of the last event applied. */
  lastEventAt: instant("last_event_at").notNull(),
  deletedAt: instant("deleted_at"),
});

/**
 * One row per notification the delivery consumer has tried to send, keyed by the request's notificationId.
 * The row is claimed (`sending`) and committed before the transport is called, so a redelivered request
 * never sends again: `sent`, `sending` (the process died mid-send) and `unknown` (the transport could not
 * tell) all stop a second send; only `failed`, a send known not to have happened, may be tried again.
 */
export const notificationDeliveries = pgTable(
  "notification_deliveries",
  {
    notificationId: uuid("notification_id").primaryKey(),
    /** The notification-events record that asked for it. */
    eventId: uuid("event_id").notNull(),
    channel: text("channel").$type<"email" | "sms">().notNull(),
    status: text("status").$type<"sending" | "sent" | "failed" | "unknown">().notNull(),
    attempts: integer("attempts").notNull(),
    transport: text("transport").notNull(),
    /** The id the transport gave the message (the SMTP Message-ID), for tracing it downstream. */
    transportMessageId: text("transport_message_id"),
    /** Why the last attempt failed: the error's class and code, never the message's content. */
    lastError: text("last_error"),
    claimedAt: instant("claimed_at").notNull(),
    finishedAt: instant("finished_at"),
    /**
     * The operator (login name) who settled a delivery whose outcome nobody knew, after asking the mail provider
     * (`npm run notifications:resolve`); null when its sender finished it.
     */
    resolvedBy: text("resolved_by"),
  },
  (table) => [
    // The deliveries whose outcome nobody knows yet (notification_deliveries_unresolved, read every scrape):
    // a handful among millions sent, found without reading the rest.
    index("notification_deliveries_unresolved")
      .on(table.claimedAt)
      .where(sql`${table.status} IN ('sending', 'unknown')`),
  ],
);

/**
 * What the development transport "sent" instead of sending: every call is a row, with no unique key, so a
 * message sent twice shows up twice. Holds personal data like a mailbox would: for development only.
 */
export const recordedNotifications = pgTable(
  "recorded_notifications",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    notificationId: uuid("notification_id").notNull(),
    channel: text("channel").$type<"email" | "sms">().notNull(),
    recipient: text("recipient").notNull(),
    subject: text("subject"),
    body: text("body").notNull(),
    recordedAt: instant("recorded_at").notNull().default(sql`now()`),
    /** The patient the message concerns (null for staff): their erasure deletes the row. */
    patientId: uuid("patient_id"),
  },
  (table) => [index("recorded_notifications_patient").on(table.patientId)],
);

// ---------------------------------------------------------------------------------------------------------
// The platform's services (apps/): providers, appointments, documents, AI records, and the responses kept
// for Idempotency-Key retries.

/** The clinicians that appointments are booked with. `user_id` is the provider's login (the token's sub). */
export const providers = pgTable(
  "providers",
  {
    id: uuid("id").primaryKey(),
    userId: uuid("user_id"),
    firstName: text("first_name").notNull(),
    lastName: text("last_name").notNull(),
    specialty: text("specialty").notNull(),
    email: text("email").notNull(),
    phone: text("phone"),
    createdAt: instant("created_at").notNull().default(sql`now()`),
    updatedAt: instant("updated_at").notNull().default(sql`now()`),
  },
  // One provider profile per login, so that a provider's token names exactly one provider.
  (table) => [uniqueIndex("providers_user_id").on(table.userId)],
);

export const appointmentStatuses = ["BOOKED", "CANCELLED", "COMPLETED"] as const;

/**
 * Booked visits. `ends_at` is stored (and checked against the duration) because the exclusion constraint
 * that forbids a provider's overlapping slots (migration 0006, btree_gist) needs an immutable range
 * expression, which `scheduled_at + duration` is not. `reminded_at` is set in the transaction that appends
 * the appointment.reminder event, so each appointment is reminded once, whichever scheduler gets there.
 */
export const appointments = pgTable(
  "appointments",
  {
    id: uuid("id").primaryKey(),
    patientId: uuid("patient_id")
      .notNull()
      .references(() => patients.id),
    providerId: uuid("provider_id")
      .notNull()
      .references(() => providers.id),
    scheduledAt: instant("scheduled_at").notNull(),
    endsAt: instant("ends_at").notNull(),
    durationMinutes: integer("duration_minutes").notNull(),
    appointmentType: text("appointment_type").notNull(),
    location: jsonb("location")
      .$type<{ type: "VIRTUAL"; url: string } | { type: "IN_PERSON"; address: string }>()
      .notNull(),
    notes: text("notes"),
    status: text("status").$type<(typeof appointmentStatuses)[number]>().notNull().default("BOOKED"),
    cancelledAt: instant("cancelled_at"),
    cancelledBy: text("cancelled_by"),
    cancellationReason: text("cancellation_reason"),
    completedAt: instant("completed_at"),
    remindedAt: instant("reminded_at"),
    createdAt: instant("created_at").notNull().default(sql`now()`),
    updatedAt: instant("updated_at").notNull().default(sql`now()`),
  },
  (table) => [
    // A provider's patients are those with an appointment with them (apps/http/patientAccess.ts).
    index("appointments_patient_provider").on(table.patientId, table.providerId),
    // The reminder scheduler's scan: booked, not yet reminded, by start time.
    index("appointments_reminder_due")
      .on(table.scheduledAt)
      .where(sql`${table.status} = 'BOOKED' AND ${table.remindedAt} IS NULL`),
    check("appointments_status", sql`${table.status} IN ('BOOKED', 'CANCELLED', 'COMPLETED')`),
    check(
      "appointments_ends_after_duration",
      sql`${table.endsAt} = ${table.scheduledAt} + make_interval(mins => ${table.durationMinutes})`,
    ),
  ],
);

/** A patient's documents: metadata and checksum only; the bytes live in object storage. */
export const documents = pgTable(
  "documents",
  {
    id: uuid("id").primaryKey(),
    patientId: uuid("patient_id")
      .notNull()
      .references(() => patients.id),
    fileName: text("file_name").notNull(),
    mimeType: text("mime_type").notNull(),
    sizeBytes: bigint("size_bytes", { mode: "number" }).notNull(),
    checksumSha256: text("checksum_sha256").notNull(),
    storageUrl: text("storage_url").notNull(),
    processingStatus: text("processing_status")
      .$type<"PENDING" | "SUCCEEDED" | "FAILED">()
      .notNull()
      .default("PENDING"),
    processor: text("processor"),
    processedAt: instant("processed_at"),
    createdAt: instant("created_at").notNull().default(sql`now()`),
    updatedAt: instant("updated_at").notNull().default(sql`now()`),
    deletedAt: instant("deleted_at"),
  },
  (table) => [index("documents_patient").on(table.patientId)],
);

/** The parties a patient allowed to use one of their documents, and for what. */
export const documentConsents = pgTable(
  "document_consents",
  {
    id: uuid("id").primaryKey(),
    documentId: uuid("document_id")
      .notNull()
      .references(() => documents.id),
    grantedTo: text("granted_to").notNull(),
    purpose: text("purpose").notNull(),
    expiresAt: instant("expires_at"),
    createdAt: instant("created_at").notNull().default(sql`now()`),
  },
  (table) => [index("document_consents_document").on(table.documentId)],
);

/** A trained model version; its measured performance is the latest one reported. */
export const aiModels = pgTable(
  "ai_models",
  {
    id: uuid("id").primaryKey(),
    name: text("name").notNull(),
    version: text("version").notNull(),
    algorithm: text("algorithm").notNull(),
    trainedAt: instant("trained_at").notNull(),
    datasetSize: integer("dataset_size").notNull(),
    trainingMetrics: jsonb("training_metrics").$type<Record<string, number>>().notNull(),
    latestMetrics: jsonb("latest_metrics").$type<Record<string, number>>(),
    latestMeasuredAt: instant("latest_measured_at"),
    createdAt: instant("created_at").notNull().default(sql`now()`),
  },
  // A name is compared in NFC (events/fields.ts, identifyingName): one spelled otherwise is no second model.
  (table) => [uniqueIndex("ai_models_name_version").on(sql`normalize(${table.name}, NFC)`, table.version)],
);

export const aiPredictions = pgTable(
  "ai_predictions",
  {
    id: uuid("id").primaryKey(),
    modelId: uuid("model_id")
      .notNull()
      .references(() => aiModels.id),
    patientId: uuid("patient_id")
      .notNull()
      .references(() => patients.id),
    predictionType: text("prediction_type").notNull(),
    score: doublePrecision("score").notNull(),
    label: text("label"),
    confidence: doublePrecision("confidence").notNull(),
    createdAt: instant("created_at").notNull().default(sql`now()`),
  },
  (table) => [index("ai_predictions_patient").on(table.patientId)],
);

export const aiInsights = pgTable("ai_insights", {
  id: uuid("id").primaryKey(),
  patientId: uuid("patient_id").references(() => patients.id),
  predictionId: uuid("prediction_id").references(() => aiPredictions.id),
  category: text("category").notNull(),
  severity: text("severity").notNull(),
  summary: text("summary").notNull(),
  createdAt: instant("created_at").notNull().default(sql`now()`),
});

/**
 * The first response to each POST, PUT, PATCH or DELETE sent with an Idempotency-Key, per principal. The key
 * is claimed and the response stored in the request's own transaction, so a response is kept exactly when its
 * effects (state and events) committed; a retry finds it and gets it back instead of a second effect.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    principalId: uuid("principal_id").notNull(),
    key: text("key").notNull(),
    /** SHA-256 of method, path and canonical body: the same key with another request is refused. */
    requestFingerprint: text("request_fingerprint").notNull(),
    responseStatus: integer("response_status"),
    responseBody: text("response_body"),
    responseHeaders: jsonb("response_headers").$type<Record<string, string>>(),
    createdAt: instant("created_at").notNull().default(sql`now()`),
    /**
     * The patient whose data the kept response (or the request it answers) holds, if any: their erasure deletes
     * it, a replay of a body is audited.
     */
    patientId: uuid("patient_id"),
    /**
     * The e-mail address or phone number the request named a login by (a login attempt's username), as the
     * keyed hashes erased_logins holds an erased patient's (db/erasedLogins.ts): an address's, or each form a
     * typed number may take. The request's fingerprint is a hash of it, whether or not it named a patient
     * when it was made: the erasure of a patient with one of these empties the kept answer as it does one
     * with their `patient_id`.
     */
    loginHashes: bytea("login_hashes").array(),
  },
  (table) => [
    primaryKey({ columns: [table.principalId, table.key] }),
    index("idempotency_keys_patient").on(table.patientId),
    // Only login attempts' keys have hashes: the index holds those, for an erasure's one lookup.
    index("idempotency_keys_login_hashes")
      .using("gin", table.loginHashes)
      .where(sql`${table.loginHashes} IS NOT NULL`),
  ],
);

/**
 * The compliance watch's memory (consumers/complianceWatch): each audit event that a rule counts, under the
 * rule and the principal it counts against. `counted` is what the rule counts distinct values of: the
 * patient's id for many-patients-read and many-patients-decrypted, the event's own id for the others.
 * `subject` is the principal, `<kind>:<id>`: ids and keyed pseudonyms (of a username or an IP address), never
 * a username or an address as typed, which may be a patient's and would outlive their erasure here.
 */
export const complianceWatchObservations = pgTable(
  "compliance_watch_observations",
  {
    rule: text("rule").notNull(),
    subject: text("subject").notNull(),
    eventId: uuid("event_id").notNull(),
    occurredAt: instant("occurred_at").notNull(),
    counted: text("counted").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.rule, table.subject, table.eventId] }),
    index("compliance_watch_observations_window").on(table.rule, table.subject, table.occurredAt),
  ],
);

/**
 * One row per rule and principal, updated with every observation: concurrent observations of one principal
 * (audit-events are keyed by event id, so they arrive on any partition) conflict on it and run one after the
 * other, so none misses what the other recorded. `alertedUntil`: the end of the last alert's window, before
 * which the same pattern is not reported again.
 */
export const complianceWatchSubjects = pgTable(
  "compliance_watch_subjects",
  {
    rule: text("rule").notNull(),
    subject: text("subject").notNull(),
    observations: bigint("observations", { mode: "number" }).notNull(),
    alertedUntil: instant("alerted_until"),
  },
  (table) => [primaryKey({ columns: [table.rule, table.subject] })],
);

/** The alerts raised, each also an audit.compliance.alert event in the outbox (`eventId`). */
export const complianceWatchAlerts = pgTable(
  "compliance_watch_alerts",
  {
    eventId: uuid("event_id").primaryKey(),
    rule: text("rule").notNull(),
    subject: text("subject").notNull(),
    windowStart: instant("window_start").notNull(),
    windowEnd: instant("window_end").notNull(),
    raisedAt: instant("raised_at").notNull().default(sql`now()`),
  },
  (table) => [index("compliance_watch_alerts_rule").on(table.rule)],
);
