-- Contact lists, each tied to the consent purpose its subscribers consent to, and their members.

CREATE TABLE contact_lists (
    id uuid PRIMARY KEY,
    account_id text NOT NULL,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    purpose_id text NOT NULL,
    member_count bigint NOT NULL DEFAULT 0,  -- maintained by the trigger below
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contact_lists_name ON contact_lists (account_id, lower(name));
CREATE INDEX contact_lists_account_keyset ON contact_lists (account_id, id);

-- A member goes with its contact (purge, erasure) or its list, by the foreign keys.
CREATE TABLE list_members (
    list_id uuid NOT NULL REFERENCES contact_lists (id) ON DELETE CASCADE,
    contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (list_id, contact_id)
);
CREATE INDEX list_members_contact ON list_members (contact_id);

-- member_count follows every insert and delete, cascades included, once per statement.
CREATE FUNCTION list_members_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE contact_lists l SET member_count = l.member_count + n.c
        FROM (SELECT list_id, count(*) AS c FROM added GROUP BY list_id) n WHERE l.id = n.list_id;
    ELSE
        UPDATE contact_lists l SET member_count = l.member_count - n.c
        FROM (SELECT list_id, count(*) AS c FROM removed GROUP BY list_id) n
        WHERE l.id = n.list_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER list_members_added AFTER INSERT ON list_members
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION list_members_count();
CREATE TRIGGER list_members_removed AFTER DELETE ON list_members
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION list_members_count();
