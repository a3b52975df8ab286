-- Hand-edited after drizzle-kit: WITHOUT ROWID on the tables whose primary key is the
-- table (a row written is one b-tree entry, not two); drizzle's schema cannot say it.
CREATE TABLE `telemetry_chunks` (
	`series_id` integer NOT NULL,
	`bucket` integer NOT NULL,
	`n` integer NOT NULL,
	`total` real NOT NULL,
	`lo` real NOT NULL,
	`hi` real NOT NULL,
	`squares` real NOT NULL,
	`first` integer NOT NULL,
	`last` integer NOT NULL,
	`samples` text NOT NULL,
	PRIMARY KEY(`series_id`, `bucket`),
	CONSTRAINT "telemetry_chunks_size" CHECK("telemetry_chunks"."n" <= 10000)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `telemetry_chunks_bucket` ON `telemetry_chunks` (`bucket`);--> statement-breakpoint
CREATE TABLE `telemetry_legacy_ids` (
	`id` text PRIMARY KEY NOT NULL,
	`series_id` integer NOT NULL,
	`timestamp` integer NOT NULL
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `telemetry_series` (
	`id` integer PRIMARY KEY NOT NULL,
	`key` text NOT NULL,
	`meter` text NOT NULL,
	`type` text NOT NULL,
	`unit` text NOT NULL,
	`project_id` text NOT NULL,
	`resource_id` text NOT NULL,
	`resource_name` text NOT NULL,
	`display_name` text NOT NULL,
	`namespace` text NOT NULL,
	`user_id` text NOT NULL,
	`source` text NOT NULL,
	`metadata` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `telemetry_series_key` ON `telemetry_series` (`key`);--> statement-breakpoint
CREATE INDEX `telemetry_series_meter` ON `telemetry_series` (`meter`);--> statement-breakpoint
CREATE INDEX `telemetry_series_project` ON `telemetry_series` (`project_id`,`meter`);--> statement-breakpoint
CREATE INDEX `telemetry_series_resource` ON `telemetry_series` (`resource_id`,`meter`);--> statement-breakpoint
CREATE TABLE `telemetry_series_metadata` (
	`key` text NOT NULL,
	`kind` text NOT NULL,
	`value` blob NOT NULL,
	`series_id` integer NOT NULL,
	PRIMARY KEY(`key`, `kind`, `value`, `series_id`)
) WITHOUT ROWID;
