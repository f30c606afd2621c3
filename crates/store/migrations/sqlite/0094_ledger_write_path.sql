-- On PostgreSQL this version drops the foreign key from postings to accounts and leaves half
-- of each accounts page free (see the PostgreSQL migration of the same number). SQLite keeps
-- the key, whose check costs nothing measurable there, and has no fill factor.
SELECT 1;
