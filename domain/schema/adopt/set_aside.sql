-- Adopting a database made by SoundHash's Python layer, step 1 of 2 (see
-- domain/src/adopt.cpp; migrate() has checked that the five tables are the
-- Python models' exactly). They move, with their indexes, constraints and
-- sequences, into schema soundhash_adopting: their names are free for the
-- bundled migrations, which run next, up to the version copy_back.sql is
-- written against. Everything happens in migrate()'s one transaction.

CREATE SCHEMA soundhash_adopting;
ALTER TABLE match_results SET SCHEMA soundhash_adopting;
ALTER TABLE audio_fingerprints SET SCHEMA soundhash_adopting;
ALTER TABLE videos SET SCHEMA soundhash_adopting;
ALTER TABLE channels SET SCHEMA soundhash_adopting;
ALTER TABLE processing_jobs SET SCHEMA soundhash_adopting;
