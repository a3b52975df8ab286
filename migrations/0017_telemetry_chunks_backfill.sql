-- Moves the samples stored one row each (telemetry_samples, its metadata side table)
-- into series and chunks (src/telemetry/chunks.ts), in this one migration: D1 applies a
-- migration whole or not at all, so an interrupted run leaves the old rows untouched
-- and is simply run again. Samples keep their message ids (each chunk entry carries its
-- old id, and telemetry_legacy_ids finds it). The series key is the identity tuple as
-- JSON, with the metadata text as it was stored.
INSERT INTO `telemetry_series` (`key`, `meter`, `type`, `unit`, `project_id`, `resource_id`, `resource_name`, `display_name`, `namespace`, `user_id`, `source`, `metadata`)
SELECT DISTINCT json_array(meter, type, unit, project_id, resource_id, resource_name, display_name, namespace, user_id, source, metadata),
       meter, type, unit, project_id, resource_id, resource_name, display_name, namespace, user_id, source, metadata
FROM `telemetry_samples` WHERE true
ON CONFLICT (`key`) DO NOTHING;--> statement-breakpoint
INSERT OR IGNORE INTO `telemetry_series_metadata` (`key`, `kind`, `value`, `series_id`)
SELECT md.`key`, md.`kind`, md.`value`, se.`id`
FROM `telemetry_sample_metadata` md
JOIN `telemetry_samples` s ON s.`seq` = md.`seq`
JOIN `telemetry_series` se ON se.`key` = json_array(s.meter, s.type, s.unit, s.project_id, s.resource_id, s.resource_name, s.display_name, s.namespace, s.user_id, s.source, s.metadata);--> statement-breakpoint
-- One chunk per series and hour, entries in insertion (seq) order: [timestamp − hour, volume, recorded_at − timestamp, old id].
INSERT INTO `telemetry_chunks` (`series_id`, `bucket`, `n`, `total`, `lo`, `hi`, `squares`, `first`, `last`, `samples`)
SELECT se.`id`, x.b, count(*), sum(x.volume), min(x.volume), max(x.volume), sum(x.volume * x.volume), min(x.timestamp), max(x.timestamp),
       json_group_array(json_array(x.timestamp - x.b, x.volume, x.recorded_at - x.timestamp, x.id))
FROM (SELECT s.*, s.timestamp - ((s.timestamp % 3600000000) + 3600000000) % 3600000000 AS b FROM `telemetry_samples` s ORDER BY s.seq) x
JOIN `telemetry_series` se ON se.`key` = json_array(x.meter, x.type, x.unit, x.project_id, x.resource_id, x.resource_name, x.display_name, x.namespace, x.user_id, x.source, x.metadata)
GROUP BY se.`id`, x.b
ON CONFLICT DO NOTHING;--> statement-breakpoint
INSERT OR IGNORE INTO `telemetry_legacy_ids` (`id`, `series_id`, `timestamp`)
SELECT s.`id`, se.`id`, s.`timestamp`
FROM `telemetry_samples` s
JOIN `telemetry_series` se ON se.`key` = json_array(s.meter, s.type, s.unit, s.project_id, s.resource_id, s.resource_name, s.display_name, s.namespace, s.user_id, s.source, s.metadata);--> statement-breakpoint
-- Hour rollups now hold only what the archive cron moved: the hours of hot chunks leave
-- them (the cron adds them back when it moves those chunks); minute rollups are gone.
DELETE FROM `telemetry_rollups` WHERE `width` = 60;--> statement-breakpoint
DELETE FROM `telemetry_rollups` WHERE `width` = 3600 AND (`meter`, `bucket`, `project_id`, `resource_id`, `user_id`, `source`) IN (
  SELECT se.`meter`, c.`bucket`, se.`project_id`, se.`resource_id`, se.`user_id`, se.`source`
  FROM `telemetry_chunks` c JOIN `telemetry_series` se ON se.`id` = c.`series_id`);
