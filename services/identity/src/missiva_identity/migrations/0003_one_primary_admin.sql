-- An account has exactly one primary admin: the database refuses a second, whatever races.
CREATE UNIQUE INDEX users_one_primary_admin ON users (account_id) WHERE role = 'primary_admin';
