-- The same rejected bytes delivered again (a producer retry, a republished feed) are one dead
-- letter, not one per Kafka offset: operators review each distinct bad message once.
CREATE UNIQUE INDEX dead_letter_payload_idx ON dead_letter_message (queue_name, sha256(raw_payload));
