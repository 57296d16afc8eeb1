-- `sync` (the long poll that drains nothing): every message a user sent or received
-- after a cursor, oldest first. One index per side, each read as a bounded range
-- scan, so its cost follows the page asked for, not the length of the history.

CREATE INDEX messages_by_recipient ON messages (recipient, id);
CREATE INDEX messages_by_sender ON messages (sender, id);
