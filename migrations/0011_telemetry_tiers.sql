CREATE TABLE `telemetry_archive` (
	`key` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`meter` text NOT NULL,
	`day` integer NOT NULL,
	`first` integer NOT NULL,
	`last` integer NOT NULL,
	`n` integer NOT NULL,
	`bytes` integer NOT NULL,
	`min_seq` integer NOT NULL,
	`max_seq` integer NOT NULL,
	`moved_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `telemetry_archive_day` ON `telemetry_archive` (`day`);--> statement-breakpoint
CREATE INDEX `telemetry_archive_meter` ON `telemetry_archive` (`meter`,`day`);--> statement-breakpoint
CREATE INDEX `telemetry_archive_project` ON `telemetry_archive` (`project_id`,`day`);--> statement-breakpoint
CREATE TABLE `telemetry_archive_guard` (
	`k` text PRIMARY KEY NOT NULL,
	`expected` integer NOT NULL,
	`actual` integer NOT NULL,
	CONSTRAINT "telemetry_archive_guard_exact" CHECK("telemetry_archive_guard"."expected" = "telemetry_archive_guard"."actual")
);
--> statement-breakpoint
CREATE TABLE `telemetry_ingest_marks` (
	`k` text PRIMARY KEY NOT NULL,
	`seq` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `telemetry_rollups` (
	`width` integer NOT NULL,
	`meter` text NOT NULL,
	`bucket` integer NOT NULL,
	`project_id` text NOT NULL,
	`resource_id` text NOT NULL,
	`user_id` text NOT NULL,
	`source` text NOT NULL,
	`n` integer NOT NULL,
	`total` real NOT NULL,
	`lo` real NOT NULL,
	`hi` real NOT NULL,
	`squares` real NOT NULL,
	`first` integer NOT NULL,
	`last` integer NOT NULL,
	`unit` text NOT NULL,
	PRIMARY KEY(`width`, `meter`, `bucket`, `project_id`, `resource_id`, `user_id`, `source`)
);
