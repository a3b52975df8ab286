CREATE TABLE `telemetry_meters` (
	`meter` text NOT NULL,
	`type` text NOT NULL,
	`unit` text NOT NULL,
	`resource_id` text NOT NULL,
	`project_id` text NOT NULL,
	`user_id` text NOT NULL,
	`source` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `telemetry_meters_key` ON `telemetry_meters` (`meter`,`resource_id`,`project_id`,`user_id`,`source`,`type`,`unit`);--> statement-breakpoint
CREATE INDEX `telemetry_meters_project` ON `telemetry_meters` (`project_id`);--> statement-breakpoint
CREATE INDEX `telemetry_meters_resource` ON `telemetry_meters` (`resource_id`);--> statement-breakpoint
CREATE INDEX `telemetry_meters_user` ON `telemetry_meters` (`user_id`);--> statement-breakpoint
CREATE INDEX `telemetry_meters_source` ON `telemetry_meters` (`source`);--> statement-breakpoint
CREATE TABLE `telemetry_sample_counts` (
	`project_id` text PRIMARY KEY NOT NULL,
	`n` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `telemetry_samples` (
	`seq` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`meter` text NOT NULL,
	`display_name` text DEFAULT '' NOT NULL,
	`project_id` text DEFAULT '' NOT NULL,
	`resource_id` text NOT NULL,
	`resource_name` text DEFAULT '' NOT NULL,
	`namespace` text DEFAULT '' NOT NULL,
	`type` text NOT NULL,
	`unit` text DEFAULT '' NOT NULL,
	`volume` real NOT NULL,
	`timestamp` integer NOT NULL,
	`recorded_at` integer NOT NULL,
	`user_id` text DEFAULT '' NOT NULL,
	`source` text DEFAULT '' NOT NULL,
	`metadata` text DEFAULT '' NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `telemetry_samples_id` ON `telemetry_samples` (`id`);--> statement-breakpoint
CREATE INDEX `telemetry_samples_timestamp` ON `telemetry_samples` (`timestamp`);--> statement-breakpoint
CREATE INDEX `telemetry_samples_project` ON `telemetry_samples` (`project_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `telemetry_samples_resource` ON `telemetry_samples` (`resource_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `telemetry_samples_resource_name` ON `telemetry_samples` (`resource_name`,`timestamp`);--> statement-breakpoint
CREATE INDEX `telemetry_samples_meter` ON `telemetry_samples` (`meter`,`timestamp`);--> statement-breakpoint
CREATE INDEX `telemetry_samples_namespace` ON `telemetry_samples` (`namespace`,`timestamp`);--> statement-breakpoint
CREATE INDEX `telemetry_samples_user` ON `telemetry_samples` (`user_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `telemetry_samples_source` ON `telemetry_samples` (`source`,`timestamp`);