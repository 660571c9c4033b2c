// The database schema: the domain's state tables and the outbox, the permanent history of every event.
// Migrations in db/migrations are generated from this file by drizzle-kit (`npm run db:generate`).
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  customType,
  date,
  index,
  json,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

/** Raw bytes (hashes, signatures, ciphertext). */
const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => "bytea",
});

/** Postgres' 64-bit transaction id; kept as a decimal string in TypeScript so that no precision is lost. */
const xid8 = customType<{ data: string; driverData: string }>({
  dataType: () => "xid8",
});

export const patients = pgTable("patients", {
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
    effectiveDate: string;
    expiryDate: string;
  }>(),
  medicalConditions: text("medical_conditions").array().notNull().default(sql`'{}'`),
  allergies: text("allergies").array().notNull().default(sql`'{}'`),
  consentDataSharing: boolean("consent_data_sharing").notNull().default(false),
  consentMarketing: boolean("consent_marketing").notNull().default(false),
  consentResearch: boolean("consent_research").notNull().default(false),
  consentUpdatedAt: timestamp("consent_updated_at", { withTimezone: true, mode: "date" }),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  // Deletion keeps the row (medical records have retention duties); GDPR erasure is a separate operation.
  deletedAt: timestamp("deleted_at", { withTimezone: true, mode: "date" }),
});

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
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    // Tamper evidence: `hash` covers the row's content and `previous_hash`, the hash of the aggregate's
    // previous event (null for its first, and for events keyed by their own id). See db/outbox/eventHash.ts.
    previousHash: bytea("previous_hash"),
    hash: bytea("hash").notNull(),
  },
  (table) => [
    index("outbox_relay_order").on(table.txId, table.position),
    uniqueIndex("outbox_event_id").on(table.eventId),
    uniqueIndex("outbox_aggregate_version").on(
      table.aggregateType,
      table.aggregateId,
      table.aggregateVersion,
    ),
  ],
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
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
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
  sealedAt: timestamp("sealed_at", { withTimezone: true, mode: "date" }).notNull(),
});
