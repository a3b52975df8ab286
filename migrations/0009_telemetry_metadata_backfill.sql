-- Indexes the metadata of samples stored before the side table existed, flattened as the
-- ingest path flattens it (`flavor.name`, `tags[0]`); nulls, empty objects and arrays
-- have no entry. Keys that need quoting in a JSON path keep json_tree's quotes.
INSERT OR IGNORE INTO `telemetry_sample_metadata` (`key`, `kind`, `value`, `timestamp`, `seq`)
SELECT substr(j.fullkey, 3),
       CASE j.type WHEN 'text' THEN 's' WHEN 'true' THEN 'b' WHEN 'false' THEN 'b' ELSE 'n' END,
       j.atom, s.timestamp, s.seq
FROM `telemetry_samples` s, json_tree(s.metadata) j
WHERE s.metadata != '' AND j.type IN ('text', 'integer', 'real', 'true', 'false');
