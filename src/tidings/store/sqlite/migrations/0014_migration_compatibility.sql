-- compatible: yes
-- Rolling deploys (migration 0014): whether each applied migration is backward compatible
-- with the release before it (its file's "-- compatible:" header). A store that finds
-- migrations it does not know starts if every one of them is compatible, and refuses the
-- database otherwise. NULL: not known (recorded by a release before 0014), which counts
-- as not compatible. The store fills it in after migrating.
ALTER TABLE tidings_migrations ADD COLUMN compatible INTEGER;
