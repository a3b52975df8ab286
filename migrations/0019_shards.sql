CREATE TABLE `shard_fences` (
	`project` text PRIMARY KEY NOT NULL
);
--> statement-breakpoint
CREATE TABLE `shard_map` (
	`project` text PRIMARY KEY NOT NULL,
	`number` integer NOT NULL,
	`shard` text NOT NULL,
	`frozen` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `shard_map_number_unique` ON `shard_map` (`number`);--> statement-breakpoint
CREATE TABLE `shard_moves` (
	`project` text PRIMARY KEY NOT NULL,
	`source` text NOT NULL,
	`target` text NOT NULL,
	`step` text NOT NULL,
	`cursor` text DEFAULT '{}' NOT NULL,
	`started_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`switched_at` integer
);
--> statement-breakpoint
-- Projects that already have rows are in the main DB, the only shard there was. Monitor
-- projects keep their ids as numbers (their rowid ranges stay where they are); telemetry's
-- other projects are numbered after them.
INSERT INTO `shard_map` (`project`, `number`, `shard`) SELECT `name`, `id`, 'DB' FROM `monitor_projects`;
--> statement-breakpoint
INSERT INTO `shard_map` (`project`, `number`, `shard`)
SELECT p, (SELECT coalesce(max(`number`), -1) FROM `shard_map`) + row_number() OVER (ORDER BY p), 'DB'
FROM (
  SELECT `project_id` AS p FROM `telemetry_series` UNION SELECT `project_id` FROM `telemetry_meters`
  UNION SELECT `project_id` FROM `telemetry_rollups` UNION SELECT `project_id` FROM `telemetry_archive`
) WHERE p NOT IN (SELECT `project` FROM `shard_map`);
