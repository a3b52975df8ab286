-- Rolls up the samples stored before the rollups existed, minute and hour buckets, as
-- the ingest batch does (src/telemetry/rollups.ts); the ingest mark starts at the
-- highest seq, so the next batch aggregates only its own rows.
INSERT INTO `telemetry_rollups` (`width`, `meter`, `bucket`, `project_id`, `resource_id`, `user_id`, `source`, `n`, `total`, `lo`, `hi`, `squares`, `first`, `last`, `unit`)
SELECT w.width, s.meter, s.timestamp - ((s.timestamp % (w.width * 1000000)) + w.width * 1000000) % (w.width * 1000000) AS bucket,
       s.project_id, s.resource_id, s.user_id, s.source,
       count(*), sum(s.volume), min(s.volume), max(s.volume), sum(s.volume * s.volume), min(s.timestamp), max(s.timestamp), max(s.unit)
FROM `telemetry_samples` s, (SELECT 60 AS width UNION ALL SELECT 3600) w
GROUP BY w.width, s.meter, bucket, s.project_id, s.resource_id, s.user_id, s.source;--> statement-breakpoint
INSERT INTO `telemetry_ingest_marks` (`k`, `seq`) SELECT 'ingest', coalesce(max(`seq`), 0) FROM `telemetry_samples`;
