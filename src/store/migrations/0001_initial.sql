-- parcours on PostgreSQL: the first schema. Migrations are additive: a later file adds, never drops.
-- Plain SQL that PostgreSQL 15+, CockroachDB and YugabyteDB all run: no advisory locks, no triggers.

-- Customers, one JSON record each (the same record the embedded store keeps).
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    record JSONB NOT NULL,
    created_at BIGINT NOT NULL
);

-- A customer's id on each channel: one customer per (channel, id), enforced here.
CREATE TABLE IF NOT EXISTS identities (
    channel TEXT NOT NULL,
    user_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (channel, user_id)
);
CREATE INDEX IF NOT EXISTS identities_by_customer ON identities (customer_id);

-- One row per sender: the row a turn locks (SELECT ... FOR UPDATE through an upsert), so that two
-- messages of one conversation on two replicas are handled one after the other.
CREATE TABLE IF NOT EXISTS senders (
    channel TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (channel, user_id)
);

-- Conversations: what lists and filters need, in columns; the rest of the record (without turns) in
-- `header`. Turns are rows of their own, appended.
CREATE TABLE IF NOT EXISTS conversations (
    -- byte order, as the embedded store pages: keyset cursors compare ids
    id TEXT COLLATE "C" PRIMARY KEY,
    customer_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    user_id TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    ended_at BIGINT,
    outcome TEXT,
    intents TEXT[] NOT NULL,
    rating SMALLINT,
    irritant BOOLEAN NOT NULL,
    -- open, and a person has it or is awaited
    human BOOLEAN NOT NULL,
    outbox BOOLEAN NOT NULL,
    turn_count INTEGER NOT NULL,
    header JSONB NOT NULL
);
-- The staff list, newest first, and its filters.
CREATE INDEX IF NOT EXISTS conversations_by_start ON conversations (started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_by_channel ON conversations (channel, started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_by_customer ON conversations (customer_id, started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_by_rating ON conversations (rating, started_at DESC, id DESC)
    WHERE rating IS NOT NULL;
CREATE INDEX IF NOT EXISTS conversations_by_intent ON conversations USING GIN (intents);
-- A sender's open conversation, and the queue.
CREATE INDEX IF NOT EXISTS conversations_open ON conversations (channel, user_id, started_at DESC)
    WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS conversations_with_people ON conversations (id) WHERE human;

CREATE TABLE IF NOT EXISTS turns (
    -- the same collation as conversations.id, so that the join uses the primary key
    conversation_id TEXT COLLATE "C" NOT NULL,
    seq INTEGER NOT NULL,
    turn JSONB NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);

CREATE TABLE IF NOT EXISTS link_codes (
    code TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS link_codes_by_customer ON link_codes (customer_id);

-- Platform delivery ids already answered (Telegram's update_id): a redelivery, to any replica, is
-- answered once.
CREATE TABLE IF NOT EXISTS deliveries (
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (source, id)
);
CREATE INDEX IF NOT EXISTS deliveries_by_age ON deliveries (at);

-- Erased customers: nothing is saved under these ids again.
CREATE TABLE IF NOT EXISTS erased_ids (
    customer_id TEXT PRIMARY KEY
);

