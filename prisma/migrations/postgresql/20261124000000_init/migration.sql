-- CreateTable
CREATE TABLE "users" (
    "id" SERIAL NOT NULL,
    "username" TEXT NOT NULL,
    "rank" INTEGER NOT NULL DEFAULT 0,
    "first_seen" TIMESTAMP(3) NOT NULL,
    "last_seen" TIMESTAMP(3) NOT NULL,
    "joined_at" TIMESTAMP(3),
    "chat_lines" INTEGER NOT NULL DEFAULT 0,
    "time_present_ms" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "chat_log" (
    "id" SERIAL NOT NULL,
    "event_id" TEXT NOT NULL,
    "platform" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "username" TEXT NOT NULL,
    "content" TEXT NOT NULL,
    "sent_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "chat_log_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "user_count_stats" (
    "id" SERIAL NOT NULL,
    "platform" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "user_count" INTEGER NOT NULL,
    "chat_count" INTEGER NOT NULL DEFAULT 0,
    "recorded_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "user_count_stats_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "high_water_marks" (
    "kind" TEXT NOT NULL,
    "value" INTEGER NOT NULL,
    "reached_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "high_water_marks_pkey" PRIMARY KEY ("kind")
);

-- CreateTable
CREATE TABLE "bot_status" (
    "id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "details" JSONB,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "bot_status_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "outbound_messages" (
    "id" SERIAL NOT NULL,
    "recipient" TEXT NOT NULL,
    "sender" TEXT,
    "platform" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "content" TEXT NOT NULL,
    "sent" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMP(3) NOT NULL,
    "sent_at" TIMESTAMP(3),

    CONSTRAINT "outbound_messages_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "plugin_records" (
    "id" SERIAL NOT NULL,
    "plugin" TEXT NOT NULL,
    "collection" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "value" JSONB NOT NULL,
    "size" INTEGER NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "plugin_records_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "plugin_schema_migrations" (
    "id" SERIAL NOT NULL,
    "plugin_name" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "description" TEXT NOT NULL,
    "checksum" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "applied_at" TIMESTAMP(3) NOT NULL,
    "applied_by" TEXT NOT NULL,
    "rolled_back_at" TIMESTAMP(3),
    "rolled_back_by" TEXT,

    CONSTRAINT "plugin_schema_migrations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "migration_locks" (
    "plugin_name" TEXT NOT NULL,
    "holder" TEXT NOT NULL,
    "acquired_at" TIMESTAMP(3) NOT NULL,
    "expires_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "migration_locks_pkey" PRIMARY KEY ("plugin_name")
);

-- CreateTable
CREATE TABLE "ingested_events" (
    "id" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "ingested_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ingested_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_log" (
    "id" SERIAL NOT NULL,
    "event_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "plugin" TEXT,
    "action" TEXT NOT NULL,
    "subject" TEXT,
    "reason" TEXT,
    "details" JSONB,
    "source" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "audit_log_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "users_username_key" ON "users"("username");

-- CreateIndex
CREATE UNIQUE INDEX "chat_log_event_id_key" ON "chat_log"("event_id");

-- CreateIndex
CREATE INDEX "chat_log_channel_sent_at_idx" ON "chat_log"("channel", "sent_at");

-- CreateIndex
CREATE INDEX "chat_log_username_sent_at_idx" ON "chat_log"("username", "sent_at");

-- CreateIndex
CREATE INDEX "user_count_stats_recorded_at_idx" ON "user_count_stats"("recorded_at");

-- CreateIndex
CREATE INDEX "outbound_messages_recipient_sent_idx" ON "outbound_messages"("recipient", "sent");

-- CreateIndex
CREATE INDEX "plugin_records_plugin_idx" ON "plugin_records"("plugin");

-- CreateIndex
CREATE UNIQUE INDEX "plugin_records_plugin_collection_key_key" ON "plugin_records"("plugin", "collection", "key");

-- CreateIndex
CREATE UNIQUE INDEX "plugin_schema_migrations_plugin_name_version_key" ON "plugin_schema_migrations"("plugin_name", "version");

-- CreateIndex
CREATE INDEX "ingested_events_ingested_at_idx" ON "ingested_events"("ingested_at");

-- CreateIndex
CREATE UNIQUE INDEX "audit_log_event_id_key" ON "audit_log"("event_id");

-- CreateIndex
CREATE INDEX "audit_log_plugin_created_at_idx" ON "audit_log"("plugin", "created_at");
