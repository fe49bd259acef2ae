-- A platform's delivery is committed with the turn that answered it, and so is the reply given: a
-- redelivery (Twilio's retry, Telegram's after a slow webhook) gets that reply, and nothing runs twice.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS reply TEXT;
